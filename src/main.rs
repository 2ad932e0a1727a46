use clap::Parser;
use lastbucket::cli::{self, Cli};

fn main() {
    let cli = Cli::parse();
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            lastbucket::exit::USAGE
        }
    };
    std::process::exit(code);
}
