//! `descent tour`: the article's pictures. The seven optimizers on a convex bowl, on a surface with several local
//! minima, and at a saddle point; tables on standard output, pictures in a folder.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use descent_landscape::{race, surfaces, Run};

use crate::error::CliError;
use crate::plot::{self, Scene};
use crate::race::{draw_animation, entrants, heading, notes, table};

/// Arguments of `descent tour`.
#[derive(Debug, Args)]
pub struct TourCommand {
    /// The folder the pictures are written to (created if missing).
    #[arg(long, default_value = "tour", value_name = "DIR")]
    out: PathBuf,

    /// Skip the animation (the slowest picture).
    #[arg(long)]
    no_animation: bool,
}

/// One picture of the tour.
struct Stop {
    file: &'static str,
    /// What the picture shows, for its title.
    story: &'static str,
    title: &'static str,
    function: &'static str,
    start: [f64; 2],
    steps: usize,
    /// The seven optimizers of the article, as (label, spec) at learning rates that suit the picture.
    optimizers: [(&'static str, &'static str); 7],
}

const STOPS: [Stop; 3] = [
    Stop {
        file: "bowl",
        story: "A ravine",
        title: "A convex bowl, ten times steeper across than along: momentum overshoots, the adaptive methods rescale",
        function: "quadratic",
        start: [-1.8, 1.2],
        steps: 60,
        optimizers: [
            ("SGD", "sgd(lr=0.05)"),
            ("Momentum", "momentum(lr=0.05)"),
            ("Nesterov", "nesterov(lr=0.05)"),
            ("AdaGrad", "adagrad(lr=0.5)"),
            ("RMSprop", "rmsprop(lr=0.05)"),
            ("AdaDelta", "adadelta(lr=1.0)"),
            ("Adam", "adam(lr=0.2)"),
        ],
    },
    Stop {
        file: "local-minima",
        story: "Local minima: Styblinski–Tang",
        title: "Several local minima: momentum carries through the first one into the global minimum",
        function: "styblinski_tang",
        start: [-1.0, 4.7],
        steps: 300,
        optimizers: [
            ("SGD", "sgd(lr=0.01)"),
            ("Momentum", "momentum(lr=0.01)"),
            ("Nesterov", "nesterov(lr=0.01)"),
            ("AdaGrad", "adagrad(lr=1.0)"),
            ("RMSprop", "rmsprop(lr=0.05)"),
            ("AdaDelta", "adadelta(lr=10.0)"),
            ("Adam", "adam(lr=0.3)"),
        ],
    },
    Stop {
        file: "saddle",
        story: "A saddle point",
        title: "A saddle point: plain SGD stalls where the gradient vanishes, the adaptive methods break away",
        function: "saddle",
        start: [-1.8, 0.001],
        steps: 120,
        optimizers: [
            ("SGD", "sgd(lr=0.02)"),
            ("Momentum", "momentum(lr=0.02)"),
            ("Nesterov", "nesterov(lr=0.02)"),
            ("AdaGrad", "adagrad(lr=0.2)"),
            ("RMSprop", "rmsprop(lr=0.02)"),
            ("AdaDelta", "adadelta(lr=1.0)"),
            ("Adam", "adam(lr=0.03)"),
        ],
    },
];

/// Runs the tour, printing to `out`.
pub fn execute(command: &TourCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let fail = |reason: String| CliError::Write { path: command.out.clone(), reason };
    if command.out.exists() && !command.out.is_dir() {
        return Err(fail("it is a file, not a folder".to_owned()));
    }
    fs::create_dir_all(&command.out).map_err(|e| fail(e.to_string()))?;
    let mut written = Vec::new();
    for stop in &STOPS {
        let surface = surfaces::by_name(stop.function, 2)?;
        let entrants = entrants(&stop.optimizers);
        let config = Run::new(stop.start.to_vec(), stop.steps);
        let outcomes = race(&surface, &entrants, &config, 1e-3)?;
        writeln!(out, "{}\n{}", stop.title, heading(&surface, &config))?;
        write!(out, "{}", table(&outcomes, 1e-3, false))?;
        for note in notes(&outcomes) {
            writeln!(out, "{note}")?;
        }
        writeln!(out)?;
        out.flush()?;
        let scene = Scene {
            surface: &surface,
            start: &config.start,
            outcomes: &outcomes,
            schedule: false,
            story: Some(stop.story),
        };
        for format in plot::PICTURE_FORMATS {
            let path = command.out.join(format!("{}.{format}", stop.file));
            plot::draw(&path, &scene)?;
            written.push(path);
        }
        if stop.file == "saddle" && !command.no_animation {
            let path = command.out.join("saddle.gif");
            draw_animation(&path, &scene, config.steps)?;
            written.push(path);
        }
    }
    writeln!(out, "Wrote:")?;
    for path in written {
        writeln!(out, "  {}", path.display())?;
    }
    Ok(())
}
