use clap::Parser;
use lastbucket::cli::{self, Cli};

fn main() {
    let cli = Cli::parse();
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e}");
            e.code()
        }
    };
    std::process::exit(code);
}
