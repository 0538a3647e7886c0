//! The IDX files of MNIST and its kin: a magic number, the dimensions as big-endian 32-bit integers, then the bytes;
//! gzipped or not.

use std::io::{BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;
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

/// The most bytes of values a file may declare: more than any dataset of this kind needs, and a bound on the memory
/// a hostile header can ask for.
pub const MAX_VALUES: usize = 1 << 31;

/// Reads an image file (magic 0x00000803), gzipped or not.
pub fn read_images(reader: impl Read, file: &str) -> Result<Images, IdxError> {
    let (dims, pixels) = read(reader, file, IMAGES, 3, "image")?;
    Ok(Images { count: dims[0], rows: dims[1], cols: dims[2], pixels })
}

/// Reads a label file (magic 0x00000801), gzipped or not.
pub fn read_labels(reader: impl Read, file: &str) -> Result<Vec<u8>, IdxError> {
    Ok(read(reader, file, LABELS, 1, "label")?.1)
}

fn fail(file: &str, reason: String) -> IdxError {
    IdxError { file: file.to_owned(), reason }
}

/// Reads the header, checks it, then reads exactly the values it declares, inflating gzip (of one or more members)
/// on the way: nothing beyond what the header promises is ever inflated or held.
fn read(reader: impl Read, file: &str, magic: u32, rank: usize, kind: &str) -> Result<(Vec<usize>, Vec<u8>), IdxError> {
    let mut reader = BufReader::new(reader);
    let gzipped = reader.fill_buf().map_err(|e| fail(file, e.to_string()))?.starts_with(&[0x1f, 0x8b]);
    let mut data: Box<dyn Read> = if gzipped { Box::new(MultiGzDecoder::new(reader)) } else { Box::new(reader) };
    let broken = |e: std::io::Error| {
        if gzipped {
            fail(file, format!("not a valid gzip file ({e}); is it truncated?"))
        } else {
            fail(file, e.to_string())
        }
    };

    let header_len = 4 * (1 + rank);
    let mut header = Vec::with_capacity(header_len);
    (&mut data).take(header_len as u64).read_to_end(&mut header).map_err(broken)?;
    if header.len() < header_len {
        return Err(fail(
            file,
            format!("truncated: {} bytes, but an IDX {kind} header has {header_len}", header.len()),
        ));
    }
    let word = |i: usize| u32::from_be_bytes(header[4 * i..4 * i + 4].try_into().expect("four bytes"));
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
    let expected = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_VALUES)
        .ok_or_else(|| fail(file, format!("dimensions {dims:?} declare more than {MAX_VALUES} bytes")))?;

    let mut values = Vec::new();
    values
        .try_reserve_exact(expected)
        .map_err(|_| fail(file, format!("cannot allocate the {expected} bytes that dimensions {dims:?} declare")))?;
    (&mut data).take(expected as u64).read_to_end(&mut values).map_err(broken)?;
    if values.len() < expected {
        return Err(fail(
            file,
            format!("truncated: dimensions {dims:?} need {expected} bytes, found {}", values.len()),
        ));
    }
    let extra = std::io::copy(&mut data.take(MAX_EXTRA), &mut std::io::sink()).map_err(broken)?;
    if extra > 0 {
        let count = if extra == MAX_EXTRA { format!("more than {}", MAX_EXTRA - 1) } else { extra.to_string() };
        return Err(fail(file, format!("{count} bytes after the {expected} that dimensions {dims:?} give")));
    }
    Ok((dims, values))
}

/// How many bytes past the declared values are counted before the error says "more than".
const MAX_EXTRA: u64 = 1 << 20;

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
        assert_eq!(read_images(&raw[..], "a"), Ok(expected.clone()));
        assert_eq!(read_images(&gzip(&raw)[..], "a.gz"), Ok(expected));
        assert_eq!(read_labels(&gzip(&idx(LABELS, &[3], &[7, 0, 9]))[..], "l.gz"), Ok(vec![7, 0, 9]));
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
            assert_eq!(read_images(&bytes[..], "images.idx"), Err(fail("images.idx", reason.to_owned())));
        }
        let mut cut = gzip(&idx(IMAGES, &[2, 3, 2], &pixels));
        cut.truncate(cut.len() - 6);
        let err = read_images(&cut[..], "cut.gz").unwrap_err();
        assert!(err.to_string().starts_with("cut.gz: not a valid gzip file"), "{err}");
    }

    #[test]
    fn hostile_headers_are_refused_before_anything_is_allocated() {
        // 2^22 · 2^21 · 2^21 wraps to 0 in 64 bits.
        let wrapping = idx(IMAGES, &[1 << 22, 1 << 21, 1 << 21], &[]);
        let err = read_images(&wrapping[..], "w").unwrap_err().to_string();
        assert!(err.contains("declare more than 2147483648 bytes"), "{err}");
        let huge = idx(IMAGES, &[u32::MAX, 28, 28], &[]);
        assert!(read_images(&huge[..], "h").unwrap_err().to_string().contains("declare more than"));
        let mut long = idx(LABELS, &[3], &[1, 2, 3]);
        long.extend(vec![0; 2 << 20]);
        assert_eq!(
            read_labels(&long[..], "l"),
            Err(fail("l", "more than 1048575 bytes after the 3 that dimensions [3] give".to_owned()))
        );
    }

    #[test]
    fn a_gzip_bomb_is_inflated_only_as_far_as_its_header_allows() {
        // 64 MiB of zeros: no IDX magic number, so reading stops after the header's 16 bytes.
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            encoder.write_all(&zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        let started = std::time::Instant::now();
        let err = read_images(&bomb[..], "bomb.gz").unwrap_err().to_string();
        assert!(err.contains("magic number 0x00000000"), "{err}");
        // A valid header over the same zeros: the values are read, and what follows them is counted only so far.
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(&idx(IMAGES, &[10, 28, 28], &[])).unwrap();
        for _ in 0..64 {
            encoder.write_all(&zeros).unwrap();
        }
        let err = read_images(&encoder.finish().unwrap()[..], "bomb.gz").unwrap_err().to_string();
        assert!(err.contains("more than 1048575 bytes after the 7840"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[test]
    fn gzip_of_several_members_is_read_whole() {
        let raw = idx(LABELS, &[4], &[1, 2, 3, 4]);
        let mut joined = gzip(&raw[..6]);
        joined.extend(gzip(&raw[6..]));
        assert_eq!(read_labels(&joined[..], "cat.gz"), Ok(vec![1, 2, 3, 4]));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any mutation of a valid file's header or length is an error, or a file whose values have exactly the
        /// declared size.
        #[test]
        fn mutated_files_are_read_right_or_refused(
            edits in proptest::collection::vec((0usize..16, proptest::prelude::any::<u8>()), 0..6),
            cut in 0usize..40,
            gzipped in proptest::prelude::any::<bool>(),
        ) {
            let mut bytes = idx(IMAGES, &[2, 3, 4], &[7; 24]);
            for (at, value) in edits {
                bytes[at] = value;
            }
            bytes.truncate(bytes.len() - cut.min(bytes.len()));
            let bytes = if gzipped { gzip(&bytes) } else { bytes };
            if let Ok(images) = read_images(&bytes[..], "m") {
                proptest::prop_assert_eq!(images.pixels.len(), images.count * images.rows * images.cols);
            }
        }
    }
}
