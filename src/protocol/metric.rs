//! STUB
pub fn parse_metric(_l: &[u8]) -> Result<super::MetricLine<'_>, super::RejectReason> { Err(super::RejectReason::InvalidValue) }
