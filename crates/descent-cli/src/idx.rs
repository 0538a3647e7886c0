//! The IDX files of MNIST and its kin: a magic number, the dimensions as big-endian 32-bit integers, then the bytes;
//! gzipped or not.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::GzDecoder;
use thiserror::Error;

/// A file that is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}: {reason}")]
pub struct IdxError {
    /// The file's name.
    pub file: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Images of `rows × cols` bytes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// How many images.
    pub count: usize,
    /// Rows of each image.
    pub rows: usize,
    /// Columns of each image.
    pub cols: usize,
    /// The pixels, image after image, row after row.
    pub pixels: Vec<u8>,
}

/// The magic number of unsigned-byte images: three dimensions.
const IMAGES: u32 = 0x0000_0803;
/// The magic number of unsigned-byte labels: one dimension.
const LABELS: u32 = 0x0000_0801;

/// Reads an image file (magic 0x00000803).
pub fn read_images(bytes: &[u8], file: &str) -> Result<Images, IdxError> {
    let data = decompress(bytes, file)?;
    let (dims, body) = parse(&data, file, IMAGES, 3, "image")?;
    Ok(Images { count: dims[0], rows: dims[1], cols: dims[2], pixels: body.to_vec() })
}

/// Reads a label file (magic 0x00000801).
pub fn read_labels(bytes: &[u8], file: &str) -> Result<Vec<u8>, IdxError> {
    let data = decompress(bytes, file)?;
    let (_, body) = parse(&data, file, LABELS, 1, "label")?;
    Ok(body.to_vec())
}

fn fail(file: &str, reason: String) -> IdxError {
    IdxError { file: file.to_owned(), reason }
}

/// The file's bytes, inflated if they are gzipped.
fn decompress<'a>(bytes: &'a [u8], file: &str) -> Result<Cow<'a, [u8]>, IdxError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut data = Vec::new();
    GzDecoder::new(bytes)
        .read_to_end(&mut data)
        .map_err(|e| fail(file, format!("not a valid gzip file ({e}); is it truncated?")))?;
    Ok(Cow::Owned(data))
}

/// Checks the header and the length; returns the dimensions and the values.
fn parse<'a>(
    data: &'a [u8],
    file: &str,
    magic: u32,
    rank: usize,
    kind: &str,
) -> Result<(Vec<usize>, &'a [u8]), IdxError> {
    let header = 4 * (1 + rank);
    if data.len() < header {
        return Err(fail(file, format!("truncated: {} bytes, but an IDX {kind} header has {header}", data.len())));
    }
    let word = |i: usize| u32::from_be_bytes(data[4 * i..4 * i + 4].try_into().expect("four bytes"));
    if word(0) != magic {
        return Err(fail(
            file,
            format!("not an IDX {kind} file: magic number {:#010x}, expected {magic:#010x}", word(0)),
        ));
    }
    let dims: Vec<usize> = (1..=rank).map(|i| word(i) as usize).collect();
    if dims.contains(&0) {
        return Err(fail(file, format!("has an empty dimension: {dims:?}")));
    }
    let expected = dims.iter().product::<usize>();
    let body = &data[header..];
    if body.len() < expected {
        return Err(fail(file, format!("truncated: dimensions {dims:?} need {expected} bytes, found {}", body.len())));
    }
    if body.len() > expected {
        return Err(fail(
            file,
            format!("{} bytes after the {expected} that dimensions {dims:?} give", body.len() - expected),
        ));
    }
    Ok((dims, body))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    fn idx(magic: u32, dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut bytes = magic.to_be_bytes().to_vec();
        for d in dims {
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend(values);
        bytes
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn reads_raw_and_gzipped_files() {
        let pixels: Vec<u8> = (0..2 * 3 * 2).collect();
        let raw = idx(IMAGES, &[2, 3, 2], &pixels);
        let expected = Images { count: 2, rows: 3, cols: 2, pixels: pixels.clone() };
        assert_eq!(read_images(&raw, "a"), Ok(expected.clone()));
        assert_eq!(read_images(&gzip(&raw), "a.gz"), Ok(expected));
        assert_eq!(read_labels(&gzip(&idx(LABELS, &[3], &[7, 0, 9])), "l.gz"), Ok(vec![7, 0, 9]));
    }

    #[test]
    fn corrupt_files_are_errors_that_name_the_file() {
        let pixels = [1u8; 12];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (idx(IMAGES, &[2, 3, 2], &pixels[..11]), "truncated: dimensions [2, 3, 2] need 12 bytes, found 11"),
            (idx(IMAGES, &[2, 3, 2], &[1; 13]), "1 bytes after the 12 that dimensions [2, 3, 2] give"),
            (idx(LABELS, &[12], &pixels), "not an IDX image file: magic number 0x00000801, expected 0x00000803"),
            (idx(IMAGES, &[0, 3, 2], &[]), "has an empty dimension: [0, 3, 2]"),
            (vec![0, 0, 8], "truncated: 3 bytes, but an IDX image header has 16"),
        ];
        for (bytes, reason) in cases {
            assert_eq!(read_images(&bytes, "images.idx"), Err(fail("images.idx", reason.to_owned())));
        }
        let mut cut = gzip(&idx(IMAGES, &[2, 3, 2], &pixels));
        cut.truncate(cut.len() - 6);
        let err = read_images(&cut, "cut.gz").unwrap_err();
        assert!(err.to_string().starts_with("cut.gz: not a valid gzip file"), "{err}");
    }
}
