//! STUB generator (replaced by the generate branch).
use super::Datagram;
#[derive(Debug, Clone, Default)]
pub struct GeneratorConfig {
    pub seed: u64,
}
#[derive(Debug, thiserror::Error)]
#[error("generator: {0}")]
pub struct GenerateError(String);
impl GeneratorConfig {
    pub fn from_spec(_s: &str) -> Result<Self, GenerateError> {
        Ok(Self::default())
    }
    pub fn from_file(_p: &std::path::Path) -> Result<Self, GenerateError> {
        Ok(Self::default())
    }
}
impl std::fmt::Display for GeneratorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gen:stub")
    }
}
pub fn generate(_c: &GeneratorConfig) -> impl Iterator<Item = Datagram> {
    (0..470u64).map(|i| Datagram {
        ts_ns: 1_700_000_000_000_000_000 + i * 100_000_000,
        payload: format!("a.b:{}|c|#t:{}\nc.d:{}|g", i, i % 3, i).into_bytes(),
    })
}
