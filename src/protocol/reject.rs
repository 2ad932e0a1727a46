//! STUB (replaced by the protocol branch)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error, serde::Serialize)]
pub enum RejectReason {
    #[error("invalid value")]
    InvalidValue,
}
impl RejectReason {
    pub fn as_str(&self) -> &'static str { "invalid_value" }
}
pub fn rejected_line_type(_l: &[u8]) -> Option<crate::protocol::MetricType> { None }
