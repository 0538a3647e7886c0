//! Pictures of a race: the surface as a contour map, the known critical points, and one trajectory per optimizer,
//! as SVG, PNG, or an animated GIF in which the trajectories advance step by step.

use std::path::Path;
use std::sync::Once;

use contour::ContourBuilder;
use descent_landscape::{CriticalKind, Domain, Outcome, Surface};
use image::ImageEncoder;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters_backend::DrawingErrorKind;
use plotters_bitmap::BitMapBackendError;
use rayon::prelude::*;

use crate::error::CliError;
use crate::gif_palette::GlobalPalette;
use crate::glyphs::Glyphs;
use crate::output::{extension, write_atomically};

/// The size of every picture, in pixels.
pub const SIZE: (u32, u32) = (960, 780);

/// The formats [`draw`] writes.
pub const PICTURE_FORMATS: [&str; 2] = ["svg", "png"];

/// The size of animations, in pixels (smaller than pictures: every frame is stored).
pub const ANIMATION_SIZE: (u32, u32) = (800, 650);

/// How long each frame of an animation shows, in milliseconds.
const FRAME_MS: u32 = 100;

/// The most frames an animation has.
const MAX_FRAMES: usize = 50;

/// How long the last frame is held, so that the paths' ends can be read before the animation starts over.
const LAST_FRAME_MS: u32 = 2000;

/// The number of isolines.
const ISOLINES: usize = 14;

/// The font of the bitmap formats, so that pictures look the same on every machine.
pub static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// One colour per optimizer, everywhere (maps, curves, animations): the Okabe–Ito palette, which colour-blind
/// readers tell apart, then three more. Paths are drawn over a white halo, so that each colour reads on the dark
/// and the light parts of the map, and none is white or yellow, so that each reads on a white legend or chart.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(230, 159, 0),
    RGBColor(204, 121, 167),
    RGBColor(0, 114, 178),
    RGBColor(0, 0, 0),
    RGBColor(140, 86, 40),
    RGBColor(120, 120, 120),
    RGBColor(110, 60, 170),
];

/// What a picture shows.
pub struct Scene<'a> {
    /// The surface.
    pub surface: &'a dyn Surface,
    /// Where every optimizer started.
    pub start: &'a [f64],
    /// The optimizers' paths.
    pub outcomes: &'a [Outcome],
    /// Whether a learning-rate schedule was set: the picture then shows each optimizer's rate under the map.
    pub schedule: bool,
    /// What the picture shows, in words ("Local minima"), for its title.
    pub story: Option<&'a str>,
}

/// Writes the picture of `scene` to `path` (SVG or PNG, by its extension).
pub fn draw(path: &Path, scene: &Scene) -> Result<(), CliError> {
    write_atomically(path, |file| {
        let bytes = match extension(path).as_str() {
            "svg" => svg(scene)?.into_bytes(),
            _ => png(scene)?,
        };
        std::fs::write(file, bytes).map_err(|e| e.to_string())
    })
}

/// The picture of `scene` as an SVG document.
pub fn svg(scene: &Scene) -> Result<String, String> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        render(&root, scene, None, &mut None)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The picture of `scene` as a PNG file's bytes.
pub fn png(scene: &Scene) -> Result<Vec<u8>, String> {
    register_font();
    let mut pixels = vec![0u8; 3 * SIZE.0 as usize * SIZE.1 as usize];
    {
        let root = Glyphs(BitMapBackend::with_buffer(&mut pixels, SIZE)).into_drawing_area();
        render(&root, scene, None, &mut None)?;
        root.present().map_err(bitmap_error)?;
    }
    encode_png(&pixels, SIZE)
}

/// The contour map of `surface` alone, filling a picture of `size` pixels that spans its domain exactly: the
/// bands and isolines of the pictures, as a PNG file's bytes.
pub fn map_png(surface: &dyn Surface, size: (u32, u32)) -> Result<Vec<u8>, String> {
    let background = Background::compute(surface, surface.domain(), size);
    let mut pixels = background.rgb;
    {
        let domain = surface.domain();
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .build_cartesian_2d(domain.x.0..domain.x.1, domain.y.0..domain.y.1)
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(background.isolines.iter().map(|line| PathElement::new(line.clone(), WHITE.mix(0.35))))
            .map_err(|e| e.to_string())?;
        root.present().map_err(bitmap_error)?;
    }
    encode_png(&pixels, size)
}

/// RGB pixels as a PNG file's bytes.
fn encode_png(pixels: &[u8], (width, height): (u32, u32)) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(pixels, width, height, image::ColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Writes an animated GIF of `scene` to `path`: the trajectories advance step by step. `on_frame` is called after
/// each frame.
pub fn animate(path: &Path, scene: &Scene, on_frame: &dyn Fn()) -> Result<(), CliError> {
    register_font();
    let mut background = None;
    write_atomically(path, |file| {
        let (width, height) = ANIMATION_SIZE;
        let steps = scene.outcomes.iter().map(|o| o.trajectory.points.len() - 1).max().unwrap_or(0);
        let shown = frame_steps(steps);
        let mut pictures = Vec::with_capacity(shown.len());
        for &upto in &shown {
            let mut pixels = vec![0u8; 3 * width as usize * height as usize];
            {
                let root = Glyphs(BitMapBackend::with_buffer(&mut pixels, ANIMATION_SIZE)).into_drawing_area();
                render(&root, scene, Some(upto), &mut background)?;
                root.present().map_err(bitmap_error)?;
            }
            pictures.push(pixels);
            on_frame();
        }
        // One palette for all frames, with every colour the picture chooses (the optimizers', black and white) exact.
        let keys: Vec<[u8; 3]> =
            PALETTE.iter().map(|c| [c.0, c.1, c.2]).chain([[255, 255, 255], [0, 0, 0], [128, 128, 128]]).collect();
        let sample: Vec<&[u8]> = [pictures.first(), pictures.last()].into_iter().flatten().map(Vec::as_slice).collect();
        let mut palette = GlobalPalette::new(&keys, &sample);
        let gif_error = |e: gif::EncodingError| e.to_string();
        let out = std::io::BufWriter::new(std::fs::File::create(file).map_err(|e| e.to_string())?);
        let mut encoder = gif::Encoder::new(out, width as u16, height as u16, palette.rgb()).map_err(gif_error)?;
        encoder.set_repeat(gif::Repeat::Infinite).map_err(gif_error)?;
        for (k, pixels) in pictures.iter().enumerate() {
            let indices = palette.indices(pixels);
            let mut frame = gif::Frame::from_indexed_pixels(width as u16, height as u16, indices, None);
            let last = k + 1 == pictures.len();
            frame.delay = (if last { LAST_FRAME_MS } else { FRAME_MS } / 10) as u16;
            encoder.write_frame(&frame).map_err(gif_error)?;
        }
        encoder
            .into_inner()
            .map_err(|e| e.to_string())?
            .into_inner()
            .map_err(|e| e.error().to_string())?
            .sync_all()
            .map_err(|e| e.to_string())
    })
}

/// Renders an SVG picture in memory with `render`, then writes it to `file`, checking every step.
pub fn write_svg(
    file: &Path,
    render: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> Result<(), String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        render(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    std::fs::write(file, svg).map_err(|e| e.to_string())
}

/// What went wrong drawing a PNG file or a GIF frame, in words.
pub fn bitmap_error(error: DrawingAreaErrorKind<BitMapBackendError>) -> String {
    match error {
        DrawingAreaErrorKind::BackendError(DrawingErrorKind::DrawingError(e)) => match e {
            BitMapBackendError::IOError(e) => e.to_string(),
            BitMapBackendError::ImageError(e) => e.to_string(),
            BitMapBackendError::InvalidBuffer => "the picture's buffer has the wrong size".to_owned(),
        },
        other => other.to_string(),
    }
}

/// The number of frames of an animation of `steps` steps: every step, up to [`MAX_FRAMES`].
pub fn frame_count(steps: usize) -> usize {
    (steps + 1).min(MAX_FRAMES)
}

/// The step each frame shows, from 0 to `steps`: every step if they fit in [`MAX_FRAMES`], else steps spaced
/// evenly in log(step + 1), so that the first steps, where optimizers move most, get most frames.
pub fn frame_steps(steps: usize) -> Vec<usize> {
    let frames = frame_count(steps);
    if frames == steps + 1 {
        return (0..=steps).collect();
    }
    let mut shown: Vec<usize> = Vec::with_capacity(frames);
    for k in 0..frames {
        let ideal = ((steps as f64 + 1.0).powf(k as f64 / (frames - 1) as f64) - 1.0).round() as usize;
        // Each frame a step further than the one before, and room left for the frames after it.
        let earliest = shown.last().map_or(0, |&previous| previous + 1);
        shown.push(ideal.clamp(earliest, steps - (frames - 1 - k)));
    }
    shown
}

/// Makes the embedded font the bitmap backends' sans-serif (once).
pub fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            unreachable!("the embedded font is a valid TrueType font");
        }
    });
}

/// The map under the trajectories, computed once per picture size.
struct Background {
    size: (u32, u32),
    rgb: Vec<u8>,
    isolines: Vec<Vec<(f64, f64)>>,
}

/// How values become colours: linear in J, or logarithmic in J − min where the range is wide.
struct Levels {
    min: f64,
    /// The offset δ of log(1 + (J − min)/δ), when logarithmic.
    log_offset: Option<f64>,
    top: f64,
}

impl Levels {
    fn of(values: &[f64]) -> Levels {
        let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return Levels { min: 0.0, log_offset: None, top: 1.0 };
        }
        finite.sort_by(f64::total_cmp);
        let (min, max) = (finite[0], finite[finite.len() - 1]);
        let quantile = |q: f64| finite[((finite.len() - 1) as f64 * q) as usize];
        let wide = max - min > 20.0 * (quantile(0.5) - min);
        let log_offset = wide.then(|| ((quantile(0.1) - min) / 4.0).max((max - min) * 1e-9).max(f64::MIN_POSITIVE));
        let mut levels = Levels { min, log_offset, top: 1.0 };
        levels.top = levels.position(max).max(f64::MIN_POSITIVE);
        levels
    }

    /// Where `value` falls, before scaling to [0, 1].
    fn position(&self, value: f64) -> f64 {
        match self.log_offset {
            Some(offset) => ((value - self.min) / offset).ln_1p(),
            None => value - self.min,
        }
    }

    /// `value` scaled to [0, 1].
    fn scaled(&self, value: f64) -> f64 {
        (self.position(value) / self.top).clamp(0.0, 1.0)
    }

    /// The colour of `value`: one of `ISOLINES + 1` bands, each between two isolines (a filled contour map).
    fn color(&self, value: f64) -> RGBColor {
        if !value.is_finite() {
            return RGBColor(128, 128, 128);
        }
        let bands = (ISOLINES + 1) as f64;
        let band = (self.scaled(value) * bands).floor().min(bands - 1.0);
        ViridisRGB::get_color((band + 0.5) / bands)
    }

    /// The value at scaled position `t`.
    fn value_at(&self, t: f64) -> f64 {
        let p = t * self.top;
        match self.log_offset {
            Some(offset) => self.min + offset * p.exp_m1(),
            None => self.min + p,
        }
    }
}

impl Background {
    fn compute(surface: &dyn Surface, domain: Domain, (width, height): (u32, u32)) -> Background {
        let (w, h) = (width as usize, height as usize);
        let at = |col: f64, row: f64, cols: f64, rows: f64| {
            let x = domain.x.0 + col / cols * (domain.x.1 - domain.x.0);
            let y = domain.y.0 + row / rows * (domain.y.1 - domain.y.0);
            sample(surface, x, y)
        };
        // Pixel rows run from the top (largest y) down.
        let pixels: Vec<f64> = (0..h)
            .into_par_iter()
            .flat_map_iter(|r| (0..w).map(move |c| (c, r)))
            .map(|(c, r)| at(c as f64 + 0.5, (h - 1 - r) as f64 + 0.5, w as f64, h as f64))
            .collect();
        let levels = Levels::of(&pixels);
        let mut rgb = Vec::with_capacity(pixels.len() * 3);
        for &v in &pixels {
            let RGBColor(r, g, b) = levels.color(v);
            rgb.extend([r, g, b]);
        }
        Background { size: (width, height), rgb, isolines: isolines(domain, &levels, at) }
    }
}

/// The surface at (x, y), its other coordinates at zero.
fn sample(surface: &dyn Surface, x: f64, y: f64) -> f64 {
    let mut theta = vec![0.0; surface.dim()];
    theta[0] = x;
    if let Some(second) = theta.get_mut(1) {
        *second = y;
    }
    surface.value(&theta)
}

/// Isolines at evenly spaced levels of the colour scale, from a coarser grid.
fn isolines(domain: Domain, levels: &Levels, at: impl Fn(f64, f64, f64, f64) -> f64 + Sync) -> Vec<Vec<(f64, f64)>> {
    const GRID: usize = 200;
    let values: Vec<f64> = (0..GRID * GRID)
        .into_par_iter()
        .map(|i| {
            let v = at((i % GRID) as f64, (i / GRID) as f64, (GRID - 1) as f64, (GRID - 1) as f64);
            if v.is_finite() {
                v
            } else {
                f64::MAX
            }
        })
        .collect();
    let thresholds: Vec<f64> = (1..=ISOLINES).map(|i| levels.value_at(i as f64 / (ISOLINES + 1) as f64)).collect();
    let builder = ContourBuilder::new(GRID, GRID, true)
        .x_origin(domain.x.0)
        .y_origin(domain.y.0)
        .x_step((domain.x.1 - domain.x.0) / (GRID - 1) as f64)
        .y_step((domain.y.1 - domain.y.0) / (GRID - 1) as f64);
    let Ok(lines) = builder.lines(&values, &thresholds) else { return Vec::new() };
    lines.iter().flat_map(|line| line.geometry().0.iter().map(|ls| ls.0.iter().map(|c| (c.x, c.y)).collect())).collect()
}

/// Draws the whole picture, with the trajectories up to step `upto` (all of them if `None`).
fn render<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    scene: &Scene,
    upto: Option<usize>,
    background: &mut Option<Background>,
) -> Result<(), String> {
    let surface = scene.surface;
    let domain = surface.domain();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (map_area, lr_area) = if scene.schedule {
        let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 * 3 / 4);
        (top, Some(bottom))
    } else {
        (root.clone(), None)
    };
    if let Some(area) = &lr_area {
        let steps = scene.outcomes.iter().map(|o| o.trajectory.lrs.len()).max().unwrap_or(1);
        let series: Vec<(RGBColor, Vec<(f64, f64)>)> = scene
            .outcomes
            .iter()
            .enumerate()
            .map(|(index, outcome)| {
                let shown = outcome.trajectory.lrs.iter().take(upto.unwrap_or(usize::MAX));
                let points = shown.enumerate().map(|(t, lr)| ((t + 1) as f64, *lr)).collect();
                (PALETTE[index % PALETTE.len()], points)
            })
            .collect();
        crate::lr_panel::draw(area, "step", (1.0, steps as f64), &series)?;
    }
    // A colour bar at the right says which way is down.
    let width = map_area.dim_in_pixel().0;
    let (root, bar_area) = map_area.split_horizontally(width - COLOR_BAR_WIDTH);
    let root = &root;
    let mut chart = ChartBuilder::on(root)
        .caption(title(scene, upto), ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(domain.x.0..domain.x.1, domain.y.0..domain.y.1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(axis_label(scene, 0))
        .y_desc(axis_label(scene, 1))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;

    let size = chart.plotting_area().dim_in_pixel();
    let map = match background {
        Some(map) if map.size == size => map,
        _ => background.insert(Background::compute(surface, domain, size)),
    };
    let image = BitMapElement::with_owned_buffer((domain.x.0, domain.y.1), size, map.rgb.clone())
        .ok_or("the map has the wrong size")?;
    chart.draw_series(std::iter::once(image)).map_err(|e| e.to_string())?;
    chart
        .draw_series(map.isolines.iter().map(|line| PathElement::new(line.clone(), WHITE.mix(0.35))))
        .map_err(|e| e.to_string())?;
    let top = chart.plotting_area().get_base_pixel().1;
    draw_color_bar(&bar_area, top, size.1)?;

    // The first optimizers are drawn widest and underneath, the last narrowest on top: where paths coincide, each
    // shows as a band around the next. Each path lies on a white halo, so that it reads on dark and light parts of
    // the map alike.
    let count = scene.outcomes.len();
    let width_of = |index: usize| 2 + (10 * (count - 1 - index) / (count - 1).max(1)) as u32;
    // Every halo first, so that no halo covers another path's colour.
    for (index, outcome) in scene.outcomes.iter().enumerate() {
        let last = upto.unwrap_or(usize::MAX).min(outcome.trajectory.points.len() - 1);
        let (shown, _) = visible_path(&outcome.trajectory.points[..=last], domain);
        chart
            .draw_series(LineSeries::new(shown, WHITE.mix(0.8).stroke_width(width_of(index) + 2)))
            .map_err(|e| e.to_string())?;
    }
    for (index, outcome) in scene.outcomes.iter().enumerate() {
        let same_as = scene.outcomes[..index]
            .iter()
            .find(|other| same_path(&other.trajectory.points, &outcome.trajectory.points, domain))
            .map(|other| other.entrant.label.as_str());
        draw_trajectory(&mut chart, outcome, index, width_of(index), same_as, domain, upto)?;
    }
    // Critical points and the start above the paths, so that no path hides them.
    draw_critical_points(&mut chart, surface)?;
    let start = (scene.start[0], scene.start.get(1).copied().unwrap_or(0.0));
    // A start outside the map is named in the legend, never drawn at the map's edge as if it were there.
    let (markers, label) = if domain.contains(start.0, start.1) {
        (vec![Circle::new(start, 7, WHITE.filled()), Circle::new(start, 5, BLACK.filled())], "start".to_owned())
    } else {
        (Vec::new(), format!("start (outside the map, at {:e}, {:e})", start.0, start.1))
    };
    chart
        .draw_series(markers)
        .map_err(|e| e.to_string())?
        .label(label)
        .legend(|(x, y)| Circle::new((x + 10, y), 5, BLACK.filled()));
    chart
        .configure_series_labels()
        .position(legend_corner(scene, domain))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())
}

/// The width of the colour bar at the right of the map, in pixels.
const COLOR_BAR_WIDTH: u32 = 64;

/// The colour bar: the map's bands from low (bottom) to high (top), beside a map `height` pixels tall whose top
/// is at `top`.
fn draw_color_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, top: i32, height: u32) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let left = area.get_base_pixel().0 + 8;
    let bands = ISOLINES + 1;
    let band_height = height as f64 / bands as f64;
    for band in 0..bands {
        let y0 = top + (height as f64 - (band + 1) as f64 * band_height).round() as i32;
        let y1 = top + (height as f64 - band as f64 * band_height).round() as i32;
        let color = ViridisRGB::get_color((band as f64 + 0.5) / bands as f64);
        let offset = area.get_base_pixel();
        let rect =
            Rectangle::new([(left - offset.0, y0 - offset.1), (left + 16 - offset.0, y1 - offset.1)], color.filled());
        area.draw(&rect).map_err(e)?;
    }
    let offset = area.get_base_pixel();
    let text = |t: &str, y: i32| {
        Text::new(t.to_owned(), (left + 20 - offset.0, y - offset.1), ("sans-serif", 13).into_font().color(&BLACK))
    };
    area.draw(&text("high", top)).map_err(e)?;
    area.draw(&text("low", top + height as i32 - 14)).map_err(e)?;
    area.draw(&text("J", top + height as i32 / 2 - 7)).map_err(e)?;
    Ok(())
}

/// Whether two paths are the same to the eye: as long, and never farther apart than a thousandth of the map.
fn same_path(a: &[Vec<f64>], b: &[Vec<f64>], domain: Domain) -> bool {
    let tolerance = 1e-3 * (domain.x.1 - domain.x.0).hypot(domain.y.1 - domain.y.0);
    a.len() == b.len() && a.iter().zip(b).all(|(p, q)| crate::plot::planar_distance(p, q) <= tolerance)
}

/// The distance between two points in the plotted plane (their first two coordinates).
pub fn planar_distance(p: &[f64], q: &[f64]) -> f64 {
    let second = |v: &[f64]| v.get(1).copied().unwrap_or(0.0);
    (p[0] - q[0]).hypot(second(p) - second(q))
}

/// The label of axis `axis` (0 or 1): x and y, or θ₀ and θ₁ of a slice through more dimensions.
fn axis_label(scene: &Scene, axis: usize) -> String {
    match (scene.surface.dim(), axis) {
        (2, 0) => "x".to_owned(),
        (2, _) => "y".to_owned(),
        (_, k) => format!("θ{}", if k == 0 { "₀" } else { "₁" }),
    }
}

/// The picture's title: its story and formula (the surface's name where there is no story), the slice shown of a
/// surface in more dimensions, and the step of an animation frame.
fn title(scene: &Scene, upto: Option<usize>) -> String {
    let surface = scene.surface;
    let formula = format!("J = {}", surface.formula());
    let lead = scene.story.map(str::to_owned).unwrap_or_else(|| surface.name().to_owned());
    let mut title = if lead == surface.formula() {
        formula
    } else if lead.chars().count() + formula.chars().count() <= 76 {
        format!("{lead}: {formula}")
    } else {
        lead
    };
    if surface.dim() > 2 {
        title.push_str(&format!("   (slice θ₂ = … = θ{} = 0)", subscript(surface.dim() - 1)));
    }
    if let Some(step) = upto {
        title.push_str(&format!("   (step {step})"));
    }
    title
}

/// `n` in subscript digits.
fn subscript(n: usize) -> String {
    n.to_string().chars().map(|c| char::from_u32(0x2080 + c.to_digit(10).unwrap_or(0)).unwrap_or(c)).collect()
}

type Chart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

fn draw_critical_points<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    surface: &dyn Surface,
) -> Result<(), String> {
    let points = surface.critical_points();
    // Only what lies in the plotted plane: a slice through more dimensions holds the points whose other
    // coordinates are 0.
    let at = |kind: CriticalKind| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter(|p| p.kind == kind && p.point.len() >= 2 && p.point[2..].iter().all(|v| *v == 0.0))
            .filter(|p| surface.domain().contains(p.point[0], p.point[1]))
            .map(|p| (p.point[0], p.point[1]))
            .collect()
    };
    for (kind, mark, size, label) in [
        (CriticalKind::GlobalMinimum, Mark::Star, 12, "global minimum"),
        (CriticalKind::LocalMinimum, Mark::Plus, 7, "local minimum"),
        (CriticalKind::Saddle, Mark::Ring, 7, "saddle point"),
        (CriticalKind::Maximum, Mark::TriangleUp, 8, "maximum"),
    ] {
        let points = at(kind);
        if !points.is_empty() {
            draw_marks(chart, mark, &points, size, WHITE, BLACK, Some(label))?;
        }
    }
    Ok(())
}

/// The shapes of markers: critical points, and the end of each optimizer's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Star,
    Plus,
    Ring,
    TriangleUp,
    Circle,
    Square,
    Diamond,
    TriangleDown,
    Hexagon,
    Pentagon,
    TriangleLeft,
    TriangleRight,
}

/// The end markers of the optimizers' paths, in turn (eight, so that the article's seven and AdamW each have
/// their own): none is a critical point's shape.
const END_MARKS: [Mark; 8] = [
    Mark::Circle,
    Mark::Square,
    Mark::Diamond,
    Mark::TriangleDown,
    Mark::Hexagon,
    Mark::Pentagon,
    Mark::TriangleLeft,
    Mark::TriangleRight,
];

impl Mark {
    /// The outline of the shape, `size` pixels from its centre, as pixel offsets.
    fn outline(self, size: i32) -> Vec<(i32, i32)> {
        let regular = |corners: usize, turn: f64, radius: f64| -> Vec<(i32, i32)> {
            (0..corners)
                .map(|k| {
                    let angle = turn + std::f64::consts::TAU * k as f64 / corners as f64;
                    ((radius * angle.cos()).round() as i32, (-radius * angle.sin()).round() as i32)
                })
                .collect()
        };
        let r = size as f64;
        let up = std::f64::consts::FRAC_PI_2;
        match self {
            Mark::Star => (0..10)
                .map(|k| {
                    let radius = if k % 2 == 0 { r } else { r * 0.45 };
                    let angle = up + std::f64::consts::TAU * k as f64 / 10.0;
                    ((radius * angle.cos()).round() as i32, (-radius * angle.sin()).round() as i32)
                })
                .collect(),
            Mark::Plus => {
                let (a, b) = (size, (size / 3).max(1));
                vec![
                    (-b, -a),
                    (b, -a),
                    (b, -b),
                    (a, -b),
                    (a, b),
                    (b, b),
                    (b, a),
                    (-b, a),
                    (-b, b),
                    (-a, b),
                    (-a, -b),
                    (-b, -b),
                ]
            }
            Mark::Square => regular(4, std::f64::consts::FRAC_PI_4, r * 1.15),
            Mark::Diamond => regular(4, up, r * 1.25),
            Mark::TriangleUp => regular(3, up, r * 1.2),
            Mark::TriangleDown => regular(3, -up, r * 1.2),
            Mark::TriangleLeft => regular(3, std::f64::consts::PI, r * 1.2),
            Mark::TriangleRight => regular(3, 0.0, r * 1.2),
            Mark::Hexagon => regular(6, 0.0, r * 1.1),
            Mark::Pentagon => regular(5, up, r * 1.15),
            Mark::Circle | Mark::Ring => regular(24, 0.0, r),
        }
    }

    /// How the shape is painted: its fill, its outline, and a line inside the outline (a ring is hollow: a dark
    /// outline with a light line inside).
    fn styles(self, fill: RGBColor, outline: RGBColor) -> (ShapeStyle, ShapeStyle, ShapeStyle) {
        if self == Mark::Ring {
            (WHITE.mix(0.0).filled(), outline.stroke_width(4), fill.stroke_width(2))
        } else {
            (fill.filled(), outline.stroke_width(1), outline.stroke_width(1))
        }
    }
}

/// Draws `mark` at each of `points` (data coordinates), `size` pixels wide, with a legend entry if `label` is given.
#[allow(clippy::too_many_arguments)]
fn draw_marks<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    mark: Mark,
    points: &[(f64, f64)],
    size: i32,
    fill: RGBColor,
    outline: RGBColor,
    label: Option<&str>,
) -> Result<(), String> {
    let shape = mark.outline(size);
    let mut closed = shape.clone();
    closed.push(shape[0]);
    let (inside, edge, line) = mark.styles(fill, outline);
    let element = move |at: (f64, f64), shape: Vec<(i32, i32)>, closed: Vec<(i32, i32)>| {
        EmptyElement::at(at)
            + Polygon::new(shape, inside)
            + PathElement::new(closed.clone(), edge)
            + PathElement::new(closed, line)
    };
    let drawn = chart
        .draw_series(points.iter().map(|&p| element(p, shape.clone(), closed.clone())))
        .map_err(|e| e.to_string())?;
    if let Some(label) = label {
        let legend_shape = mark.outline(size.min(8));
        let mut legend_closed = legend_shape.clone();
        legend_closed.push(legend_shape[0]);
        drawn.label(label).legend(move |(x, y)| {
            EmptyElement::at((x + 10, y))
                + Polygon::new(legend_shape.clone(), inside)
                + PathElement::new(legend_closed.clone(), edge)
                + PathElement::new(legend_closed.clone(), line)
        });
    }
    Ok(())
}

fn draw_trajectory<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    outcome: &Outcome,
    index: usize,
    width: u32,
    same_as: Option<&str>,
    domain: Domain,
    upto: Option<usize>,
) -> Result<(), String> {
    let trajectory = &outcome.trajectory;
    let color = PALETTE[index % PALETTE.len()];
    let mark = END_MARKS[index % END_MARKS.len()];
    let last = upto.unwrap_or(usize::MAX).min(trajectory.points.len() - 1);
    let (shown, left) = visible_path(&trajectory.points[..=last], domain);
    let mut label = outcome.entrant.label.clone();
    if trajectory.diverged {
        label.push_str(" (diverged)");
    } else if shown.is_empty() {
        label.push_str(" (outside the map)");
    } else if left && upto.is_none() {
        label.push_str(" (leaves the plot)");
    }
    if let Some(other) = same_as {
        label.push_str(&format!(" (on {other}'s path)"));
    }
    let style = color.stroke_width(width);
    chart
        .draw_series(LineSeries::new(shown.clone(), style))
        .map_err(|e| e.to_string())?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
    if let Some(&end) = shown.last() {
        draw_marks(chart, mark, &[end], 5, color, WHITE, None)?;
    }
    Ok(())
}

/// The corner of the map farthest from everything drawn on it, for the legend.
fn legend_corner(scene: &Scene, domain: Domain) -> SeriesLabelPosition {
    let unit = |p: &[f64]| {
        let y = p.get(1).copied().unwrap_or(0.0);
        ((p[0] - domain.x.0) / (domain.x.1 - domain.x.0), (y - domain.y.0) / (domain.y.1 - domain.y.0))
    };
    let mut drawn: Vec<(f64, f64)> = vec![unit(scene.start)];
    drawn.extend(scene.surface.critical_points().iter().map(|c| unit(&c.point)));
    for outcome in scene.outcomes {
        let (path, _) = visible_path(&outcome.trajectory.points, domain);
        drawn.extend(path.iter().map(|&(x, y)| unit(&[x, y])));
    }
    let corners = [
        (SeriesLabelPosition::UpperRight, (1.0, 1.0)),
        (SeriesLabelPosition::UpperLeft, (0.0, 1.0)),
        (SeriesLabelPosition::LowerRight, (1.0, 0.0)),
        (SeriesLabelPosition::LowerLeft, (0.0, 0.0)),
    ];
    let clearance = |corner: (f64, f64)| {
        drawn
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|p| (p.0 - corner.0).abs().max((p.1 - corner.1).abs()))
            .fold(f64::INFINITY, f64::min)
    };
    corners
        .into_iter()
        .map(|(position, corner)| (position, clearance(corner)))
        .fold(None, |best: Option<(SeriesLabelPosition, f64)>, next| match best {
            Some(b) if b.1 >= next.1 => Some(b),
            _ => Some(next),
        })
        .map_or(SeriesLabelPosition::UpperRight, |(position, _)| position)
}

/// The part of a path drawn on the map: its points up to the first one outside `domain` (or not finite), ending
/// where the path crosses the border; and whether the path left.
fn visible_path(points: &[Vec<f64>], domain: Domain) -> (Vec<(f64, f64)>, bool) {
    let xy = |p: &Vec<f64>| (p[0], p.get(1).copied().unwrap_or(0.0));
    let mut shown: Vec<(f64, f64)> = Vec::new();
    for p in points.iter().map(xy) {
        if p.0.is_finite() && p.1.is_finite() && domain.contains(p.0, p.1) {
            shown.push(p);
            continue;
        }
        if let (Some(&inside), true) = (shown.last(), p.0.is_finite() && p.1.is_finite()) {
            shown.push(border_crossing(inside, p, domain));
        }
        return (shown, true);
    }
    (shown, false)
}

/// Where the segment from `inside` to `outside` leaves `domain`.
fn border_crossing(inside: (f64, f64), outside: (f64, f64), domain: Domain) -> (f64, f64) {
    let (dx, dy) = (outside.0 - inside.0, outside.1 - inside.1);
    let exit = |from: f64, delta: f64, (lo, hi): (f64, f64)| {
        if delta > 0.0 {
            (hi - from) / delta
        } else if delta < 0.0 {
            (lo - from) / delta
        } else {
            f64::INFINITY
        }
    };
    let t = exit(inside.0, dx, domain.x).min(exit(inside.1, dy, domain.y)).clamp(0.0, 1.0);
    (inside.0 + t * dx, inside.1 + t * dy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_show_every_step_or_log_spaced_steps() {
        assert_eq!(frame_steps(12), (0..=12).collect::<Vec<_>>());
        for steps in [49, 50, 120, 300, 1_000_000] {
            let shown = frame_steps(steps);
            assert_eq!(shown.len(), MAX_FRAMES.min(steps + 1));
            assert_eq!((shown[0], shown[shown.len() - 1]), (0, steps));
            assert!(shown.windows(2).all(|w| w[0] < w[1]), "{steps}: {shown:?}");
        }
        // Over 300 steps, half the frames show the first tenth of the steps, where the paths move most.
        let shown = frame_steps(300);
        assert_eq!(&shown[..10], &(0..10).collect::<Vec<_>>()[..]);
        assert!(shown[25] <= 30, "{shown:?}");
    }

    #[test]
    fn a_path_is_cut_where_it_leaves_the_domain() {
        let domain = Domain::square(-1.0, 1.0);
        let points = vec![vec![0.0, 0.0], vec![0.5, 0.0], vec![1.5, 0.5], vec![0.0, 0.0]];
        assert_eq!(visible_path(&points, domain), (vec![(0.0, 0.0), (0.5, 0.0), (1.0, 0.25)], true));
        let inside = vec![vec![0.0, 0.0], vec![-0.5, 0.5]];
        assert_eq!(visible_path(&inside, domain), (vec![(0.0, 0.0), (-0.5, 0.5)], false));
        let diverged = vec![vec![0.0, 0.0], vec![f64::NAN, 0.0]];
        assert_eq!(visible_path(&diverged, domain), (vec![(0.0, 0.0)], true));
    }

    #[test]
    fn wide_ranges_get_logarithmic_levels() {
        let narrow = Levels::of(&[0.0, 1.0, 2.0, 3.0, 4.0]);
        assert!(narrow.log_offset.is_none());
        assert!((narrow.scaled(2.0) - 0.5).abs() < 1e-12);
        let mut wide: Vec<f64> = (0..100).map(f64::from).collect();
        wide.push(1e6);
        let levels = Levels::of(&wide);
        assert!(levels.log_offset.is_some());
        assert!((levels.value_at(levels.scaled(500.0)) - 500.0).abs() < 1e-6);
    }
}

#[cfg(test)]
mod marks {
    use super::{Mark, END_MARKS};

    #[test]
    fn every_path_of_the_default_race_ends_in_its_own_shape_and_none_looks_like_a_critical_point() {
        for (i, a) in END_MARKS.iter().enumerate() {
            assert!(!END_MARKS[i + 1..].contains(a), "{a:?} twice");
            assert!(![Mark::Star, Mark::Plus, Mark::Ring, Mark::TriangleUp].contains(a), "{a:?}");
            assert!(a.outline(5) != Mark::TriangleUp.outline(5));
        }
        assert!(END_MARKS.len() > descent::optim::ARTICLE.len(), "the article's seven and AdamW");
    }
}
