//! One palette for every frame of an animation, holding the key colours exactly: with a palette per frame, the
//! legend and the lines would change colour from frame to frame.

use std::collections::HashMap;

use color_quant::NeuQuant;

/// At most this many colours in a GIF palette.
const COLOURS: usize = 256;

/// A palette built once for all frames: the key colours first, exactly, then the colours a quantizer picks from a
/// sample of the frames.
pub struct GlobalPalette {
    /// `r, g, b` per entry.
    rgb: Vec<u8>,
    /// The entry chosen for each colour seen so far.
    nearest: HashMap<[u8; 3], u8>,
}

impl GlobalPalette {
    /// A palette for `frames` (RGB, 3 bytes a pixel) that holds each of `keys` exactly.
    pub fn new(keys: &[[u8; 3]], frames: &[&[u8]]) -> GlobalPalette {
        let mut rgb: Vec<u8> = Vec::with_capacity(3 * COLOURS);
        let mut nearest = HashMap::new();
        for key in keys {
            if !nearest.contains_key(key) && nearest.len() < COLOURS {
                nearest.insert(*key, (rgb.len() / 3) as u8);
                rgb.extend_from_slice(key);
            }
        }
        let free = COLOURS - rgb.len() / 3;
        if free > 0 {
            // The quantizer reads RGBA; every frame's pixels are a fair sample of the picture.
            let rgba: Vec<u8> =
                frames.iter().flat_map(|f| f.chunks_exact(3)).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
            let quantized = NeuQuant::new(10, free.max(2), &rgba).color_map_rgb();
            rgb.extend(quantized.into_iter().take(3 * free));
        }
        GlobalPalette { rgb, nearest }
    }

    /// The palette, `r, g, b` per entry.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// Each pixel of an RGB frame as the index of its nearest palette entry.
    pub fn indices(&mut self, frame: &[u8]) -> Vec<u8> {
        frame
            .chunks_exact(3)
            .map(|p| {
                let colour = [p[0], p[1], p[2]];
                let rgb = &self.rgb;
                *self.nearest.entry(colour).or_insert_with(|| closest(rgb, colour))
            })
            .collect()
    }
}

/// The index of the entry of `palette` closest to `colour` (squared distance in RGB).
fn closest(palette: &[u8], colour: [u8; 3]) -> u8 {
    let distance = |entry: &[u8]| -> u32 {
        entry.iter().zip(colour).map(|(&a, b)| (i32::from(a) - i32::from(b)).unsigned_abs().pow(2)).sum()
    };
    palette.chunks_exact(3).enumerate().min_by_key(|(_, entry)| distance(entry)).map_or(0, |(i, _)| i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_colours_stay_exact_and_others_go_to_the_nearest_entry() {
        let red = [228, 26, 28];
        let frame: Vec<u8> = (0..64u8).flat_map(|i| [i * 4, 255 - i * 4, 128]).chain(red).collect();
        let mut palette = GlobalPalette::new(&[red, [0, 0, 0]], &[&frame]);
        assert_eq!(&palette.rgb()[..6], &[228, 26, 28, 0, 0, 0]);
        let indices = palette.indices(&frame);
        assert_eq!(indices[64], 0, "the key colour is its own entry");
        let near_red = palette.indices(&[226, 27, 30]);
        assert_eq!(near_red, [0]);
        assert!(palette.rgb().len() <= 3 * COLOURS);
    }
}
