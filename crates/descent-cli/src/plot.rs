//! Pictures of a race: the surface as a contour map, the known critical points, and one trajectory per optimizer,
//! as SVG, PNG, or an animated GIF in which the trajectories advance step by step.

use std::path::Path;
use std::sync::Once;

use contour::ContourBuilder;
use descent_landscape::{CriticalKind, Domain, Outcome, Surface};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters_backend::DrawingErrorKind;
use plotters_bitmap::BitMapBackendError;
use rayon::prelude::*;

use crate::error::CliError;
use crate::gif_palette::GlobalPalette;
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
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Trajectory colours, chosen to stand out on the map's purples, greens and yellows.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(228, 26, 28),
    RGBColor(255, 127, 0),
    RGBColor(255, 255, 255),
    RGBColor(0, 220, 255),
    RGBColor(247, 129, 191),
    RGBColor(60, 255, 60),
    RGBColor(255, 255, 51),
    RGBColor(166, 86, 40),
    RGBColor(152, 78, 163),
    RGBColor(0, 0, 0),
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
}

/// An optimizer's colour as drawn on white (the learning-rate panel, training curves): the map palette's white
/// and light yellow do not show there, so they get darker stand-ins.
pub fn on_white(color: RGBColor) -> RGBColor {
    match color {
        RGBColor(255, 255, 255) => RGBColor(90, 90, 90),
        RGBColor(255, 255, 51) => RGBColor(200, 160, 0),
        other => other,
    }
}

/// Writes the picture of `scene` to `path` (SVG or PNG, by its extension).
pub fn draw(path: &Path, scene: &Scene) -> Result<(), CliError> {
    register_font();
    let mut background = None;
    write_atomically(path, |file| match extension(path).as_str() {
        "svg" => write_svg(file, |root| render(root, scene, None, &mut background)),
        _ => {
            let root = BitMapBackend::new(file, SIZE).into_drawing_area();
            render(&root, scene, None, &mut background)?;
            root.present().map_err(bitmap_error)
        }
    })
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
                let root = BitMapBackend::with_buffer(&mut pixels, ANIMATION_SIZE).into_drawing_area();
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
                (on_white(PALETTE[index % PALETTE.len()]), points)
            })
            .collect();
        crate::lr_panel::draw(area, "step", (1.0, steps as f64), &series)?;
    }
    let root = &map_area;
    let mut chart = ChartBuilder::on(root)
        .caption(title(surface, upto), ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(domain.x.0..domain.x.1, domain.y.0..domain.y.1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("x")
        .y_desc("y")
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

    draw_critical_points(&mut chart, surface)?;
    for (index, outcome) in scene.outcomes.iter().enumerate() {
        draw_trajectory(&mut chart, outcome, PALETTE[index % PALETTE.len()], domain, upto)?;
    }
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
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())
}

fn title(surface: &dyn Surface, upto: Option<usize>) -> String {
    let formula = surface.formula();
    let mut title = if formula == surface.name() {
        format!("J = {formula}")
    } else if formula.chars().count() <= 70 {
        format!("{}: J = {formula}", surface.name())
    } else {
        surface.name().to_owned()
    };
    if let Some(step) = upto {
        title.push_str(&format!("   (step {step})"));
    }
    title
}

type Chart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

fn draw_critical_points<DB: DrawingBackend>(chart: &mut Chart<'_, DB>, surface: &dyn Surface) -> Result<(), String> {
    let points = surface.critical_points();
    let at = |kind: CriticalKind| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter(|p| p.kind == kind && p.point.len() >= 2 && surface.domain().contains(p.point[0], p.point[1]))
            .map(|p| (p.point[0], p.point[1]))
            .collect()
    };
    // Each marker is drawn black and wide, then white and narrow, to show on dark and light parts of the map.
    let (outline, fill) = (BLACK.stroke_width(4), WHITE.stroke_width(2));
    let legend = BLACK.stroke_width(2);
    for (kind, size, label) in
        [(CriticalKind::GlobalMinimum, 9, "global minimum"), (CriticalKind::LocalMinimum, 6, "local minimum")]
    {
        let points = at(kind);
        if !points.is_empty() {
            chart
                .draw_series(points.iter().flat_map(|&p| [Cross::new(p, size, outline), Cross::new(p, size, fill)]))
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(move |(x, y)| Cross::new((x + 10, y), size.min(7), legend));
        }
    }
    let saddles = at(CriticalKind::Saddle);
    if !saddles.is_empty() {
        chart
            .draw_series(saddles.iter().flat_map(|&p| [Circle::new(p, 7, outline), Circle::new(p, 7, fill)]))
            .map_err(|e| e.to_string())?
            .label("saddle point")
            .legend(move |(x, y)| Circle::new((x + 10, y), 6, legend));
    }
    let maxima = at(CriticalKind::Maximum);
    if !maxima.is_empty() {
        chart
            .draw_series(
                maxima.iter().flat_map(|&p| [TriangleMarker::new(p, 8, outline), TriangleMarker::new(p, 8, fill)]),
            )
            .map_err(|e| e.to_string())?
            .label("maximum")
            .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 6, legend));
    }
    Ok(())
}

fn draw_trajectory<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    outcome: &Outcome,
    color: RGBColor,
    domain: Domain,
    upto: Option<usize>,
) -> Result<(), String> {
    let trajectory = &outcome.trajectory;
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
    let style = color.stroke_width(2);
    chart
        .draw_series(LineSeries::new(shown.clone(), style))
        .map_err(|e| e.to_string())?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    if let Some(&end) = shown.last() {
        chart.draw_series(std::iter::once(Circle::new(end, 4, color.filled()))).map_err(|e| e.to_string())?;
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
