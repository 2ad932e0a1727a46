//! STUB
pub fn parse_event(_l: &[u8]) -> Result<super::EventLine<'_>, super::RejectReason> { Err(super::RejectReason::InvalidValue) }
