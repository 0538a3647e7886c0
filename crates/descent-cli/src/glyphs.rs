//! Text in bitmaps, spaced right: a drawing backend that passes everything to another (the bitmap backend) but
//! lays text out itself.
//!
//! plotters 0.3.7 draws each glyph of a text at its pen position without the glyph's left-side bearing, so narrow
//! letters sit against their left neighbour and wide gaps open after them ("saddl e point"). This backend places
//! every glyph at its pen position plus its own bearing, with sub-pixel positions and kerning, through ab_glyph
//! and the embedded font, and keeps plotters' layout (size, anchors, rotation) so that text lands where the chart
//! expects it.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, ScaleFont};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind};

use crate::plot::FONT;

/// `B`, with its text laid out by [`Glyphs::draw_text`].
pub struct Glyphs<B>(pub B);

fn font() -> &'static FontRef<'static> {
    static PARSED: OnceLock<FontRef<'static>> = OnceLock::new();
    PARSED.get_or_init(|| FontRef::try_from_slice(FONT).expect("the embedded font is a valid TrueType font"))
}

impl<B: DrawingBackend> DrawingBackend for Glyphs<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        // plotters' box, anchors and rotation, so that the text sits where the chart made room for it.
        let ((min_x, min_y), (max_x, max_y)) =
            style.layout_box(text).map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.get_size();
        let size = style.size() as f32;
        let scaled = font().as_scaled(size);
        let mut pen = 0.0f32;
        let mut previous = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(before) = previous {
                pen += scaled.kern(before, id);
            }
            previous = Some(id);
            let mut glyph = scaled.scaled_glyph(c);
            glyph.position = ab_glyph::point(pen, 0.0);
            pen += scaled.h_advance(id);
            let Some(outline) = scaled.outline_glyph(glyph) else { continue };
            let bounds = outline.px_bounds();
            // Vertically as plotters places glyphs; horizontally at the pen position plus the glyph's bearing.
            let (left, top) = (bounds.min.x.floor() as i32, (size / 2.0 + bounds.min.y) as i32);
            let mut coverage = Vec::new();
            outline.draw(|x, y, c| coverage.push((x as i32, y as i32, c)));
            for (x, y, c) in coverage {
                let (x, y) = transform.transform(left + x + dx - min_x, top + y + dy - min_y);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 && c > 0.0 {
                    let alpha = color.alpha * f64::from(c.min(1.0));
                    self.0.draw_pixel((x, y), BackendColor { alpha, rgb: color.rgb })?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ab_glyph::{Font, ScaleFont};
    use plotters::prelude::*;

    use super::{font, Glyphs};
    use crate::plot::register_font;

    /// The first and last pixel columns with ink, in a picture of `width` pixels drawn black on white.
    fn ink_columns(pixels: &[u8], width: usize) -> (usize, usize) {
        let columns: Vec<usize> =
            pixels.chunks_exact(3).enumerate().filter(|(_, p)| p[0] < 128).map(|(i, _)| i % width).collect();
        (*columns.iter().min().unwrap(), *columns.iter().max().unwrap())
    }

    #[test]
    fn each_glyph_starts_at_its_pen_position_plus_its_bearing() {
        register_font();
        let (width, height, size) = (200u32, 80u32, 40.0);
        let scaled = font().as_scaled(size as f32);
        for text in ["l", "il", "saddle"] {
            let mut pixels = vec![255u8; (width * height * 3) as usize];
            {
                let root = Glyphs(BitMapBackend::with_buffer(&mut pixels, (width, height))).into_drawing_area();
                let style = ("sans-serif", size).into_font().color(&BLACK);
                root.draw(&Text::new(text.to_owned(), (20, 10), style)).unwrap();
                root.present().unwrap();
            }
            let first = text.chars().next().unwrap();
            let bearing = scaled.h_side_bearing(scaled.glyph_id(first));
            let (left, right) = ink_columns(&pixels, width as usize);
            // The first letter's ink begins at the pen (20) plus its left-side bearing, not at the pen itself.
            assert!((left as f32 - (20.0 + bearing)).abs() <= 1.0, "{text}: ink from {left}, bearing {bearing}");
            // And the text is as wide as its advances say: the last glyph's ink ends within its advance.
            let advance: f32 = text.chars().map(|c| scaled.h_advance(scaled.glyph_id(c))).sum();
            assert!(right as f32 <= 20.0 + advance + 1.0, "{text}: ink to {right}, advances {advance}");
        }
    }
}
