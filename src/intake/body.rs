//! A request body by its `Content-Encoding`: zstd (the agent's default), deflate (zlib, as the
//! agent's "deflate" is Go's compress/zlib), gzip, or none. Both the body and what it
//! decompresses to are limited to [`MAX_BODY`]: the decompressor is read through
//! `take(MAX_BODY + 1)`, so a bomb is refused after 64 MiB of output whatever its frame
//! header declares.

use std::borrow::Cow;
use std::io::Read;

/// The limit on a body, and on its decompressed size.
pub const MAX_BODY: u64 = 64 << 20;

/// A supported `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Zstd,
    Deflate,
    Gzip,
}

impl Encoding {
    /// Parses a `Content-Encoding` value (case and surrounding spaces ignored; none or empty
    /// is identity).
    pub fn parse(value: Option<&str>) -> Result<Encoding, String> {
        let v = value
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match v.as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "zstd" => Ok(Encoding::Zstd),
            "deflate" => Ok(Encoding::Deflate),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            other => Err(format!(
                "unsupported Content-Encoding {other:?} (expected zstd, deflate, gzip or identity)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Zstd => "zstd",
            Encoding::Deflate => "deflate",
            Encoding::Gzip => "gzip",
        }
    }
}

/// Why a body was refused: the byte offset (in the body, or in the decompressed output for a
/// corrupt stream or a bomb) and what happened there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    pub offset: u64,
    pub message: String,
}

/// The decompressed body.
pub fn decompress(encoding: Encoding, body: &[u8]) -> Result<Cow<'_, [u8]>, BodyError> {
    if body.len() as u64 > MAX_BODY {
        return Err(BodyError {
            offset: MAX_BODY,
            message: format!(
                "body of {} bytes exceeds the limit of {MAX_BODY} bytes (64 MiB)",
                body.len()
            ),
        });
    }
    match encoding {
        Encoding::Identity => Ok(Cow::Borrowed(body)),
        Encoding::Zstd => match zstd::stream::read::Decoder::new(body) {
            Ok(d) => read_limited(encoding, d).map(Cow::Owned),
            Err(e) => Err(BodyError {
                offset: 0,
                message: format!("cannot start the zstd decoder: {e}"),
            }),
        },
        Encoding::Deflate => {
            read_limited(encoding, flate2::read::ZlibDecoder::new(body)).map(Cow::Owned)
        }
        Encoding::Gzip => {
            read_limited(encoding, flate2::read::MultiGzDecoder::new(body)).map(Cow::Owned)
        }
    }
}

fn read_limited(encoding: Encoding, decoder: impl Read) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    // On an error, read_to_end leaves what it had read in `out`: its length is where the
    // stream broke, in the decompressed output.
    match decoder.take(MAX_BODY + 1).read_to_end(&mut out) {
        Ok(_) if out.len() as u64 > MAX_BODY => Err(BodyError {
            offset: MAX_BODY,
            message: format!(
                "{} body decompresses to more than the limit of {MAX_BODY} bytes (64 MiB): \
                 refused as a decompression bomb",
                encoding.name()
            ),
        }),
        Ok(_) => Ok(out),
        Err(e) => Err(BodyError {
            offset: out.len() as u64,
            message: format!(
                "corrupt {} body: {e} (after {} decompressed bytes)",
                encoding.name(),
                out.len()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn every_encoding_round_trips() {
        let data = b"hello intake".repeat(100);
        let z = zstd::encode_all(&data[..], 3).unwrap();
        let mut d = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(&data).unwrap();
        let d = d.finish().unwrap();
        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        g.write_all(&data).unwrap();
        let g = g.finish().unwrap();
        for (enc, body) in [
            (Encoding::Zstd, z),
            (Encoding::Deflate, d),
            (Encoding::Gzip, g),
            (Encoding::Identity, data.clone()),
        ] {
            assert_eq!(
                decompress(enc, &body).unwrap().as_ref(),
                &data[..],
                "{enc:?}"
            );
        }
        assert_eq!(Encoding::parse(Some(" ZSTD ")), Ok(Encoding::Zstd));
        assert!(Encoding::parse(Some("br")).unwrap_err().contains("br"));
    }

    #[test]
    fn a_corrupt_stream_is_an_error() {
        let e = decompress(Encoding::Zstd, b"definitely not zstd").unwrap_err();
        assert!(e.message.contains("corrupt zstd body"), "{}", e.message);
    }
}
