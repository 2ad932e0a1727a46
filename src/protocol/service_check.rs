//! STUB
pub fn parse_service_check(_l: &[u8]) -> Result<super::ServiceCheckLine<'_>, super::RejectReason> { Err(super::RejectReason::InvalidValue) }
