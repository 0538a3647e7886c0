//! The `descent` command end to end: its output against the library called directly, its pictures as files, and
//! every bad input as one line on standard error with exit code 2.

use std::path::Path;

mod common;

use common::{descent, fails, ok};
use descent::Spec;
use descent_landscape::{run, surfaces, Noise, Precision, Run, Trajectory};

fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(str::to_owned).collect();
    let rows = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    (header, rows)
}

fn library_run(function: &str, spec: &str, start: &[f64], steps: usize, precision: Precision) -> Trajectory {
    let surface = surfaces::by_name(function, start.len()).unwrap();
    let spec: Spec = spec.parse().unwrap();
    run(&surface, &spec, &Run { precision, ..Run::new(start.to_vec(), steps) }).unwrap()
}

#[test]
fn run_prints_the_trajectory_the_library_computes() {
    let csv =
        ok(&["run", "--function", "rosenbrock", "--optimizer", "adam(lr=0.05)", "--start", "-1.5,2", "--steps", "40"]);
    let (header, rows) = parse_csv(&csv);
    assert_eq!(header, ["step", "x0", "x1", "loss"]);
    let expected = library_run("rosenbrock", "adam(lr=0.05)", &[-1.5, 2.0], 40, Precision::F64);
    assert_eq!(rows.len(), 41);
    for (step, row) in rows.iter().enumerate() {
        assert_eq!(row[0], step as f64);
        // Full precision: the printed values read back to the very same numbers.
        assert_eq!(&row[1..3], expected.points[step].as_slice(), "step {step}");
        assert_eq!(row[3], expected.losses[step]);
    }
}

#[test]
fn run_in_f32_and_in_more_dimensions() {
    let csv = ok(&[
        "run",
        "-f",
        "rosenbrock",
        "-o",
        "nesterov(lr=1e-3)",
        "--start=-1,0.5,2",
        "--steps",
        "25",
        "--dtype",
        "f32",
    ]);
    let (header, rows) = parse_csv(&csv);
    assert_eq!(header, ["step", "x0", "x1", "x2", "loss"]);
    let expected = library_run("rosenbrock", "nesterov(lr=1e-3)", &[-1.0, 0.5, 2.0], 25, Precision::F32);
    for (row, point) in rows.iter().zip(&expected.points) {
        assert_eq!(&row[1..4], point.as_slice());
        assert!(row[1..4].iter().all(|&v| v == f64::from(v as f32)), "f32 values: {row:?}");
    }
}

#[test]
fn run_json_carries_the_resolved_hyperparameters() {
    let text = ok(&["run", "-f", "beale", "-o", "rmsprop(centered=True)", "--steps", "5", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["optimizer"], "rmsprop");
    assert_eq!(json["spec"], "rmsprop(centered=True)");
    assert_eq!(
        json["hyperparameters"],
        serde_json::json!({"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                           "centered": true, "maximize": false})
    );
    assert_eq!(json["start"], serde_json::json!([3.0, 4.0]));
    let trajectory = json["trajectory"].as_array().unwrap();
    assert_eq!(trajectory.len(), 6);
    let expected = library_run("beale", "rmsprop(centered=True)", &[3.0, 4.0], 5, Precision::F64);
    assert_eq!(trajectory[5]["x"], serde_json::json!(expected.points[5]));
    assert_eq!(trajectory[5]["loss"], serde_json::json!(expected.losses[5]));
}

#[test]
fn negative_start_coordinates_are_values_not_flags() {
    let spaced = ok(&["run", "-f", "sphere", "-o", "sgd", "--start", "-1.5,2", "--steps", "2"]);
    let joined = ok(&["run", "-f", "sphere", "-o", "sgd", "--start=-1.5,2", "--steps", "2"]);
    assert_eq!(spaced, joined);
    assert!(spaced.lines().nth(1).unwrap().starts_with("0,-1.5,2.0,"));
}

#[test]
fn noise_is_seeded() {
    let args = |seed: &str| -> Vec<String> {
        ["run", "-f", "branin", "-o", "momentum(lr=0.001)", "--steps", "20", "--noise", "0.3", "--seed", seed]
            .map(str::to_owned)
            .to_vec()
    };
    let run_with = |seed: &str| ok(&args(seed).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run_with("4"), run_with("4"));
    assert_ne!(run_with("4"), run_with("5"));
    let surface = surfaces::by_name("branin", 2).unwrap();
    let config = Run { noise: Some(Noise::new(0.3, 4).unwrap()), ..Run::new(vec![2.5, 12.5], 20) };
    let expected = run(&surface, &"momentum(lr=0.001)".parse().unwrap(), &config).unwrap();
    let (_, rows) = parse_csv(&run_with("4"));
    assert_eq!(&rows[20][1..3], expected.points[20].as_slice());
}

#[test]
fn expressions_are_surfaces() {
    let csv = ok(&["run", "-f", "x^2 - y^2 + 0.1*sin(3*x)", "-o", "sgd(lr=0.1)", "--start", "1,0.5", "--steps", "1"]);
    let (_, rows) = parse_csv(&csv);
    // One step of plain SGD: θ − 0.1·∇J, ∇J = (2x + 0.3 cos 3x, −2y).
    let (x, y) = (1.0f64, 0.5f64);
    let expected = [x - 0.1 * (2.0 * x + 0.3 * (3.0 * x).cos()), y - 0.1 * (-2.0 * y)];
    assert!((rows[1][1] - expected[0]).abs() < 1e-15 && (rows[1][2] - expected[1]).abs() < 1e-15, "{:?}", rows[1]);
}

#[test]
fn race_tables_the_seven_optimizers() {
    let text = ok(&["race", "-f", "himmelblau", "--start", "0,0", "--steps", "300"]);
    for name in ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "AdaDelta", "Adam"] {
        assert!(text.lines().any(|l| l.starts_with(&format!("{name} "))), "{name} missing:\n{text}");
    }
    assert!(text.contains("ended at"));
}

#[test]
fn race_json_reports_each_optimizer() {
    let text = ok(&[
        "race",
        "-f",
        "himmelblau",
        "--start",
        "0,0",
        "--steps",
        "400",
        "--format",
        "json",
        "--optimizers",
        "adam(lr=0.1)",
        "sgd(lr=0.5)",
    ]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let adam = &json[0];
    assert_eq!(adam["optimizer"], "adam(lr=0.1)");
    assert_eq!(adam["reached"], true);
    assert_eq!(adam["nearest_minimum"]["kind"], "global minimum");
    let sgd = &json[1];
    assert_eq!(sgd["diverged"], true);
    assert_eq!(sgd["reached"], false);
}

#[test]
fn tuning_shows_the_chosen_learning_rates() {
    let text = ok(&["race", "-f", "quadratic", "--steps", "50", "--tune", "--optimizers", "sgd", "adam"]);
    assert!(text.contains("lr (tuned)"), "{text}");
    let sgd_row = text.lines().find(|l| l.starts_with("sgd ")).unwrap();
    assert_ne!(sgd_row.split_whitespace().nth(1), Some("0.001"), "SGD kept its default learning rate: {sgd_row}");
}

#[test]
fn a_diverging_optimizer_is_reported_and_the_plot_still_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("race.svg");
    let text = ok(&[
        "race",
        "-f",
        "rosenbrock",
        "--optimizers",
        "sgd(lr=0.1)",
        "adam(lr=0.01)",
        "--steps",
        "200",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let sgd = text.lines().find(|l| l.starts_with("sgd(lr=0.1)")).unwrap();
    assert!(sgd.ends_with("diverged"), "{sgd}");
    assert_svg(&plot, &["sgd(lr=0.1) (diverged)", "adam(lr=0.01)"]);
}

/// Checks that `path` is well-formed SVG and that its texts include each of `wanted`.
fn assert_svg_texts(path: &Path, wanted: &[&str]) {
    let text = std::fs::read_to_string(path).unwrap();
    let document = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(document.root_element().tag_name().name(), "svg");
    let labels: Vec<&str> = document.descendants().filter_map(|n| n.text()).collect();
    for w in wanted {
        assert!(labels.iter().any(|l| l.contains(w)), "{w:?} not in {labels:?}");
    }
}

/// Checks that `path` is a well-formed SVG with the map image and the given legend texts.
fn assert_svg(path: &Path, texts: &[&str]) {
    assert_svg_texts(path, texts);
    let text = std::fs::read_to_string(path).unwrap();
    let document = roxmltree::Document::parse(&text).unwrap();
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some("960"));
    assert!(document.descendants().any(|n| n.tag_name().name() == "image"), "no map image");
    assert!(document.descendants().filter(|n| n.tag_name().name() == "polyline").count() > 10, "no lines");
}

#[test]
fn plots_are_written_as_svg_png_and_gif() {
    let dir = tempfile::tempdir().unwrap();
    let (svg, png, gif) = (dir.path().join("a.svg"), dir.path().join("a.png"), dir.path().join("a.gif"));
    let base = ["race", "-f", "saddle", "--steps", "12", "--optimizers", "sgd(lr=0.1)", "rmsprop(lr=0.05)"];
    ok(&[&base[..], &["--plot", svg.to_str().unwrap(), "--animate", gif.to_str().unwrap()]].concat());
    ok(&[&base[..], &["--plot", png.to_str().unwrap()]].concat());
    // The legend, the colour bar's ends, and the story-less title with the formula.
    assert_svg(
        &svg,
        &["saddle point", "start", "sgd(lr=0.1)", "rmsprop(lr=0.05)", "high", "low", "saddle: J = x² − y²"],
    );

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (960, 780));

    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(std::fs::File::open(&gif).unwrap()).unwrap();
    assert_eq!((decoder.width(), decoder.height()), (800, 650));
    let mut frames = 0;
    // One palette for every frame: the optimizers' colours (the first two of the picture's palette) are exact in
    // every frame, from the legend's first frame to the last.
    assert!(decoder.global_palette().is_some_and(|p| p.len() == 3 * 256));
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        assert!(frame.palette.is_none(), "frame {frames} has a palette of its own");
        for colour in [[213, 94, 0, 255], [86, 180, 233, 255]] {
            let count = frame.buffer.chunks_exact(4).filter(|p| **p == colour).count();
            assert!(count > 20, "frame {frames}: {count} pixels of {colour:?}");
        }
        frames += 1;
    }
    assert_eq!(frames, 13, "one frame per step, from the start");
    // The last frame is held: two seconds, where the others take a tenth.
    let mut decoder = gif::DecodeOptions::new().read_info(std::fs::File::open(&gif).unwrap()).unwrap();
    let mut delays = Vec::new();
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        delays.push(frame.delay);
    }
    assert_eq!((delays[0], delays[11], delays[12]), (10, 10, 200));
    // Only the finished files remain: no temporary files.
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["a.gif", "a.png", "a.svg"]);
}

#[test]
fn the_tour_writes_its_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pictures");
    let text = ok(&["tour", "--out", out.to_str().unwrap(), "--no-animation"]);
    for name in ["bowl", "local-minima", "saddle"] {
        assert_svg(
            &out.join(format!("{name}.svg")),
            &["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "AdaDelta", "Adam"],
        );
        assert!(out.join(format!("{name}.png")).is_file());
    }
    // The story of the second picture: the momentum methods reach the global minimum, plain SGD a local one.
    let local = text.split("Several local minima").nth(1).unwrap();
    let row = |name: &str| local.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap().to_owned();
    assert!(row("Momentum").contains("global"), "{}", row("Momentum"));
    assert!(row("SGD").contains("local"), "{}", row("SGD"));
}

#[test]
fn list_shows_every_optimizer_and_surface() {
    let text = ok(&["list"]);
    for name in ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "lookahead_nesterov"]
    {
        assert!(text.contains(&format!("  {name}")), "{name}");
    }
    assert!(text.contains("adam(lr=0.001, betas=(0.9, 0.999), eps=1e-8"));
    for surface in surfaces::all() {
        assert!(text.contains(&format!("  {}: ", surface.name)), "{}", surface.name);
    }
    assert!(text.contains("global minimum  (3, 2), J = 0"), "{text}");
    assert!(text.contains("saddle          (0.08668, 2.884), J = 67.72"), "{text}");
    assert!(text.contains("CosineAnnealingLR (also: cosine, cos)"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "wider than a terminal: {line:?}");
    }
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/folder/plot.svg");
    let run = ["run", "-f", "beale", "-o", "adam"];
    fn with<'a>(run: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [run, extra].concat()
    }
    fails(&["run", "-f", "rosenbrok", "-o", "adam"], "unknown function \"rosenbrok\"");
    fails(&with(&run, &["--start", "1,2,3"]), "beale is defined in 2 dimensions, got a point with 3");
    fails(&with(&run, &["--start", "1,abc"]), "\"abc\" is not a finite number");
    fails(&with(&run, &["--steps", "0"]), "--steps <N>: 0 is not in 1..=1000000");
    fails(&with(&run, &["--steps", "many"]), "invalid value \"many\" for --steps <N>: invalid digit");
    fails(&with(&run, &["--noise", "-1"]), "invalid noise sigma = -1");
    fails(&with(&run, &["--dtype", "f16"]), "invalid value 'f16'");
    fails(&["run", "-f", "x^2 + (y", "-o", "adam"], "expression \"x^2 + (y\"");
    fails(&["run", "-f", "x^2 + z", "-o", "adam"], "unknown variable `z` at character 7 (use x and y)");
    fails(
        &["run", "-f", "beale", "-o", "adamx"],
        "unknown optimizer \"adamx\" (did you mean \"adam\"? known: sgd, momentum",
    );
    fails(&["run", "-f", "beale", "-o", "adam(lrate=0.1)"], "unknown key `lrate` (accepted: lr, betas");
    fails(&["run", "-f", "beale", "-o", "adam(lr=fast)"], "`fast` is not a number or a boolean");
    fails(&["run", "-f", "beale", "-o", "adam(lr=-1)"], "Adam: invalid lr = -1 (expected a finite number >= 0)");
    fails(&["run", "-f", "beale", "-o", "sgd(nesterov=True)"], "Nesterov momentum requires a momentum");
    fails(&["run", "-o", "adam"], "--function");
    fails(&["race", "-f", "beale", "--plot", missing.to_str().unwrap()], "does not exist");
    fails(
        &["race", "-f", "beale", "--plot", dir.path().join("plot.jpg").to_str().unwrap()],
        "must end in .svg or .png",
    );
    fails(&["race", "-f", "beale", "--animate", dir.path().to_str().unwrap()], "cannot write");
    fails(&["race", "-f", "beale", "--optimizers", "sgd", "nope"], "unknown optimizer \"nope\"");
    fails(&["race", "-f", "beale", "--tolerance", "-1"], "invalid --tolerance");
    fails(&["frobnicate"], "unrecognized subcommand 'frobnicate'");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a failed command left files behind");
}

#[test]
fn help_teaches() {
    let help = ok(&["--help"]);
    assert!(help.contains("saddle points") && help.contains("Examples:"));
    let run_help = ok(&["run", "--help"]);
    assert!(run_help.contains("PyTorch's names") && run_help.contains("--noise <SIGMA>"));
    // Examples keep their own lines in an 80-column terminal: none is long enough to be wrapped.
    let schedule_help = ok(&["schedule", "--help"]);
    let examples = help.split("Examples:").nth(1).unwrap();
    let syntax = schedule_help.split("A schedule is").nth(1).unwrap();
    for line in examples.lines().chain(syntax.lines()) {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
}

#[test]
fn bench_reports_speed_against_the_bandwidth_baseline() {
    let text = ok(&[
        "bench",
        "--params",
        "100000",
        "--tensors",
        "10",
        "--threads",
        "2",
        "--repeats",
        "3",
        "--format",
        "json",
        "--ranks",
        "4",
        "--optimizer",
        "adam",
        "sgd(lr=0.1, momentum=0.9)",
        "adam(state=\"int8\")",
        "lion(state=\"bf16\")",
        "prodigy",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(rows.len(), 5);
    for row in &rows {
        for key in ["optimizer", "params", "tensors", "dtype", "threads", "ns_per_param", "gbps", "baseline_ratio"] {
            assert!(!row[key].is_null(), "{key} missing: {row}");
        }
        assert_eq!(
            (row["params"].as_u64(), row["tensors"].as_u64(), row["threads"].as_u64()),
            (Some(100000), Some(10), Some(2))
        );
        assert_eq!(row["dtype"], "f32");
        let ns = row["ns_per_param"].as_f64().unwrap();
        let gbps = row["gbps"].as_f64().unwrap();
        assert!(ns > 0.0 && (gbps - row["bytes_per_param"].as_f64().unwrap() / ns).abs() < 1e-9);
    }
    // Adam moves param, grad and two state tensors in, param and two state tensors out: 7 × 4 bytes.
    assert_eq!(rows[0]["bytes_per_param"].as_f64(), Some(28.0));
    assert_eq!(rows[1]["state_tensors"], 1);
    // State bytes per parameter: two f32 moments; 8-bit codes for two moments and an f32 scale per block of 256
    // (10 tensors of 10,000: 40 blocks each); one bfloat16 moment.
    let state = |row: usize| rows[row]["state_bytes_per_param"].as_f64().unwrap();
    assert_eq!((state(0), state(1)), (8.0, 4.0));
    assert_eq!(state(2), 2.0 + 2.0 * 4.0 * 40.0 / 10_000.0);
    assert_eq!(state(3), 2.0);
    // Prodigy: four f32 tensors (s, θ₀ and both moments) and its optimizer-wide scalars, which hold no tensor.
    assert_eq!(state(4), 16.0);
    // Sharded across 4 ranks: Adam goes element by element, so each rank holds the state of 25,000 of the 100,000
    // values (tensors cut where the shares meet); 8-bit state keeps its tensors whole, and the 10 tensors of 10,000
    // go 3, 3, 2, 2, each with its codes and 2 × 40 scales.
    let ranks = |row: usize| -> Vec<u64> {
        rows[row]["state_bytes_per_rank"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect()
    };
    assert_eq!(ranks(0), vec![200_000; 4]);
    let tensor = 2 * 10_000 + 2 * 40 * 4;
    assert_eq!(ranks(2), vec![3 * tensor, 3 * tensor, 2 * tensor, 2 * tensor]);
    let table = ok(&["bench", "--params", "1000", "--dtype", "f64", "--repeats", "2", "--optimizer", "rmsprop"]);
    assert!(table.contains("1000 parameters in 1 tensor(s), f64") && table.lines().any(|l| l.starts_with("rmsprop ")));
}

#[test]
fn bench_rejects_what_it_cannot_time() {
    fails(&["bench", "--params", "0"], "--params <N>: 0 is not in 1..=1000000000");
    fails(&["bench", "--params", "10", "--tensors", "11"], "--tensors is 11, more than the 10 --params");
    fails(
        &["bench", "--params", "10", "--optimizer", "muon", "--rows", "3"],
        "--rows 3 does not divide a tensor of 10",
    );
    fails(&["bench", "--params", "10", "--optimizer", "adam(lr=-1)"], "invalid lr = -1");
}

#[test]
fn training_on_the_embedded_digits_really_learns() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("curves.svg");
    let text = ok(&[
        "train",
        "--epochs",
        "3",
        "--optimizers",
        "adam(lr=1e-3)",
        "sgd(lr=1e6)",
        "--format",
        "json",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!((json["train_images"].as_u64(), json["test_images"].as_u64()), (Some(8000), Some(2000)));
    assert_eq!(json["layers"], serde_json::json!([784, 256, 10]));
    let rows = json["rows"].as_array().unwrap();
    let adam: Vec<&serde_json::Value> = rows.iter().filter(|r| r["optimizer"] == "adam(lr=1e-3)").collect();
    assert_eq!(adam.len(), 3);
    for row in &adam {
        for key in ["epoch", "train_loss", "test_loss", "test_accuracy", "seconds"] {
            assert!(row[key].is_number(), "{key}: {row}");
        }
    }
    // Accuracies are counts over the 2,000 test images, printed at their own (f32) precision: 0.8125, not
    // 0.8125000596046448.
    for row in rows {
        let accuracy = row["test_accuracy"].as_f64().unwrap();
        assert_eq!(accuracy, (accuracy * 2000.0).round() / 2000.0, "{row}");
    }
    // Only real learning gets a 10-class problem above 90%; guessing gets 10%.
    let accuracy = adam[2]["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.90, "Adam reached only {accuracy}");
    assert!(adam[2]["train_loss"].as_f64() < adam[0]["train_loss"].as_f64());
    // An absurd learning rate diverges; the other optimizer's run went on regardless.
    let optimizers = json["optimizers"].as_array().unwrap();
    assert_eq!(optimizers[1]["optimizer"], "sgd(lr=1e6)");
    assert_eq!(optimizers[1]["diverged"], true);
    assert_eq!(optimizers[0]["diverged"], false);
    assert_svg_texts(&plot, &["test accuracy", "adam(lr=1e-3)", "sgd(lr=1e6) (diverged)"]);
}

/// A run that diverges before its first epoch ends has no numbers to show: its row says so with dashes (no
/// "-0.00" seconds from summing no epochs).
#[test]
fn a_run_that_diverges_at_once_shows_no_numbers() {
    let text = ok(&["train", "--epochs", "1", "--hidden", "16", "--optimizers", "sgd(lr=1e30)", "adam(lr=1e-3)"]);
    let row = text.lines().find(|l| l.starts_with("sgd(lr=1e30)") && l.ends_with("diverged")).expect(&text);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, ["sgd(lr=1e30)", "sgd(lr=1e30)", "-", "-", "-", "-", "diverged"], "{text}");
    let adam = text.lines().find(|l| l.starts_with("adam(lr=1e-3)") && l.ends_with("ok")).expect(&text);
    assert!(adam.split_whitespace().nth(4).is_some_and(|s| s.parse::<f64>().is_ok_and(|s| s > 0.0)), "{adam}");
}

/// The optimizers beyond PyTorch train the network too, with compact state and Schedule-Free's evaluation point
/// (its test accuracy is measured at the average), and Prodigy, which needs every gradient of a step at once.
#[test]
fn the_newer_optimizers_train_the_network() {
    let specs = [
        "prodigy",
        "adamw_schedulefree(lr=0.005)",
        "sgd_schedulefree(lr=0.5)",
        "adam(lr=1e-3, state=\"int8\")",
        "adamw(lr=1e-3, state=\"bf16_stochastic\")",
        "lion(lr=1e-3, state=\"bf16\")",
        "ademamix",
        "mars",
        "soap",
    ];
    let mut args = vec!["train", "--epochs", "2", "--hidden", "32", "--format", "json", "--optimizers"];
    args.extend(specs);
    let json: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    for spec in specs {
        let last = json["rows"].as_array().unwrap().iter().rfind(|r| r["optimizer"] == spec).unwrap();
        let accuracy = last["test_accuracy"].as_f64().unwrap();
        assert!(accuracy > 0.85, "{spec} reached only {accuracy}");
    }
}

/// --validation measures on held-out training images, so that hyperparameters need not be chosen on the test set.
#[test]
fn training_measures_on_held_out_images() {
    let args = ["train", "--epochs", "1", "--hidden", "16", "--format", "json", "--optimizers", "adam"];
    let json: serde_json::Value = serde_json::from_str(&ok(&[&args[..], &["--validation", "1500"]].concat())).unwrap();
    assert_eq!((json["train_images"].as_u64(), json["test_images"].as_u64()), (Some(6500), Some(1500)));
    let accuracy = json["rows"][0]["test_accuracy"].as_f64().unwrap();
    assert_eq!(accuracy, (accuracy * 1500.0).round() / 1500.0);
    fails(&[&args[..], &["--validation", "8000"]].concat(), "validation images must be from 1 to 7999");
}

#[test]
fn training_reports_read_right() {
    let table = ok(&["train", "--epochs", "1", "--optimizers", "sgd(lr=0.1)", "--hidden", "16"]);
    assert!(table.contains("batch 128, 1 epoch, seed 0"), "{table}");
    let help = ok(&["train", "--help"]);
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("json: one object with the run's settings, `rows` (one per optimizer and epoch"), "{help}");
}

#[test]
fn training_runs_hybrids_and_closure_optimizers() {
    let text = ok(&[
        "train",
        "--epochs",
        "1",
        "--batch-size",
        "500",
        "--optimizers",
        "muon(lr=0.02) + adamw(lr=1e-3)",
        "lbfgs(lr=0.1, max_iter=1, history_size=10)",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let optimizers = json["optimizers"].as_array().unwrap();
    assert_eq!(optimizers[0]["spec"], "muon(lr=0.02) + adamw");
    assert_eq!(optimizers[0]["hyperparameters"]["hidden"]["momentum"], 0.95);
    assert_eq!(optimizers[0]["hyperparameters"]["rest"]["weight_decay"], 0.01);
    // Guessing gets 10%.
    for (k, least) in [(0, 0.75), (1, 0.6)] {
        let accuracy = optimizers[k]["final_test_accuracy"].as_f64().unwrap();
        assert!(accuracy > least, "{}: {accuracy}", optimizers[k]["optimizer"]);
    }
    fails(&["train", "--optimizers", "muon + adamw + sgd"], "a hybrid has two optimizers");
    fails(&["train", "--optimizers", "lbfgs + adamw"], "LBFGS: cannot share a step with other optimizers");
    fails(&["train", "--optimizers", "adamw + muon"], "Muon optimizes only");
}

#[test]
fn training_reads_idx_folders_and_rejects_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path();
    let write = |name: &str, magic: u32, dims: &[u32], values: &[u8]| {
        let mut bytes = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|d| bytes.extend(d.to_be_bytes()));
        bytes.extend(values);
        std::fs::write(folder.join(name), bytes).unwrap();
    };
    // A tiny dataset: 20 training and 10 test images of 2×2 pixels, the class given by the brightest pixel.
    let images = |n: usize| -> (Vec<u8>, Vec<u8>) {
        let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
        let pixels = labels.iter().flat_map(|&l| (0..4u8).map(move |p| if p == l { 250 } else { 10 })).collect();
        (pixels, labels)
    };
    let (train_pixels, train_labels) = images(20);
    let (test_pixels, test_labels) = images(10);
    write("train-images-idx3-ubyte", 0x803, &[20, 2, 2], &train_pixels);
    write("train-labels-idx1-ubyte", 0x801, &[20], &train_labels);
    write("t10k-images-idx3-ubyte", 0x803, &[10, 2, 2], &test_pixels);
    write("t10k-labels-idx1-ubyte", 0x801, &[10], &test_labels);
    let dir_arg = folder.to_str().unwrap();
    let text = ok(&[
        "train",
        "--data-dir",
        dir_arg,
        "--epochs",
        "2",
        "--batch-size",
        "5",
        "--hidden",
        "8,8",
        "--optimizers",
        "adam(lr=0.05)",
    ]);
    assert!(text.contains("20 training and 10 test images; MLP 4-8-8-10"), "{text}");

    fails(
        &["train", "--data-dir", dir_arg, "--batch-size", "0"],
        "--batch-size must be from 1 to the 20 training images",
    );
    fails(&["train", "--data-dir", dir_arg, "--batch-size", "21"], "got 21");
    fails(&["train", "--data-dir", dir_arg, "--batch-size", "5", "--optimizers", "adam(betas=2)"], "adam: betas:");
    fails(
        &["train", "--data-dir", dir_arg, "--batch-size", "5", "--optimizers", "lbfgs", "--group", "bias: lr=0.5"],
        "lbfgs: LBFGS: doesn't support per-parameter options (parameter groups)",
    );
    fails(&["train", "--data-dir", dir_arg, "--batch-size", "5", "--hidden", "256,0"], "\"0\" is not a layer size");
    fails(
        &["train", "--data-dir", dir_arg, "--batch-size", "5", "--epochs", "0"],
        "--epochs <N>: 0 is not in 1..=1000",
    );
    write("t10k-labels-idx1-ubyte", 0x801, &[9], &test_labels[..9]);
    fails(&["train", "--data-dir", dir_arg, "--batch-size", "5"], "has 10 images but");
    write("t10k-labels-idx1-ubyte", 0x801, &[10], &[3, 1, 2, 0, 3, 1, 2, 0, 11, 1]);
    fails(&["train", "--data-dir", dir_arg, "--batch-size", "5"], "label 11 at index 8 is not a class 0-9");
    write("t10k-images-idx3-ubyte", 0x803, &[10, 2, 2], &test_pixels[..39]);
    fails(
        &["train", "--data-dir", dir_arg, "--batch-size", "5"],
        "t10k-images-idx3-ubyte: truncated: dimensions [10, 2, 2] need 40 bytes, found 39",
    );
    std::fs::remove_file(folder.join("train-labels-idx1-ubyte")).unwrap();
    fails(&["train", "--data-dir", dir_arg], "has no train-labels-idx1-ubyte");
    fails(&["train", "--dataset", "cifar"], "invalid value 'cifar'");
}

/// The JSON rows of a `train` run without their timings.
fn rows_without_timings(text: &str) -> Vec<serde_json::Value> {
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut rows = json["rows"].as_array().unwrap().clone();
    for row in &mut rows {
        let row = row.as_object_mut().unwrap();
        row.remove("seconds").unwrap();
        row.remove("step_seconds").unwrap();
    }
    rows
}

/// Every file in `dir` with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn training_resumes_from_checkpoints_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("run");
    let saved_arg = saved.to_str().unwrap();
    let args = |epochs: &'static str| {
        vec![
            "train",
            "--hidden",
            "24",
            "--batch-size",
            "200",
            "--epochs",
            epochs,
            "--optimizers",
            "adamw(lr=0.003)",
            "momentum(lr=0.02)",
            "muon(lr=0.02) + adamw(lr=0.003)",
            "--group",
            "bias: lr=0.001",
            "--format",
            "json",
        ]
    };
    let straight = rows_without_timings(&ok(&args("3")));
    assert_eq!(straight.len(), 9);

    let mut first = args("1");
    first.extend(["--checkpoint", saved_arg]);
    ok(&first);
    let names: Vec<String> = files(&saved).into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "0-adamw_lr_0.003_.safetensors",
            "1-momentum_lr_0.02_.safetensors",
            "2-muon_lr_0.02____adamw_lr_0.003_.safetensors"
        ]
    );
    let mut resumed = args("3");
    resumed.extend(["--resume", saved_arg]);
    // In a fresh process: epochs 2 and 3 continue from the saved weights, optimizer state and batch order.
    assert_eq!(rows_without_timings(&ok(&resumed)), straight);

    // Arguments that contradict the checkpoints are refused before anything runs, and the folder is untouched.
    let before = files(&saved);
    let mut other = args("4");
    other.extend(["--resume", saved_arg]);
    other[2] = "16";
    fails(&other, "it was trained with layers [784,24,10], these settings give [784,16,10]");
    let mut other = args("4");
    other.extend(["--resume", saved_arg, "--seed", "1"]);
    fails(&other, "it was trained with seed 0, these settings give 1");
    let mut other = args("4");
    other.extend(["--resume", saved_arg]);
    other.retain(|a| *a != "momentum(lr=0.02)");
    other.insert(9, "momentum(lr=0.03)");
    fails(&other, "1-momentum_lr_0.03_.safetensors: there is no such checkpoint");
    let mut other = args("4");
    other.extend(["--resume", saved_arg, "--dataset", "fashion-mnist"]);
    descent().args(&other).assert().code(2);
    std::fs::write(saved.join("0-adamw_lr_0.003_.safetensors"), b"not a checkpoint").unwrap();
    let mut corrupt = args("4");
    corrupt.extend(["--resume", saved_arg]);
    fails(&corrupt, "bad checkpoint");
    let after = files(&saved);
    assert_eq!(after.len(), before.len());
    assert_eq!(after[1], before[1], "nothing was written");
    // A group whose keys an optimizer does not have is refused before training.
    fails(
        &["train", "--optimizers", "sgd", "--group", "bias: betas=(0.9, 0.99)"],
        "sgd: group \"bias\": sgd: unknown key `betas`",
    );
    fails(&["train", "--group", "weight_decay=0"], "is not a group");
}

#[test]
fn the_readme_table_of_optimizers_is_the_registry() {
    let table = ok(&["list", "--format", "markdown"]);
    assert!(table.contains("| `lookahead_nesterov`, `nag` |"), "{table}");
    assert!(table.contains("| `Adam` | `torch.optim.Adam` | `step`, `exp_avg`, `exp_avg_sq` |"), "{table}");
    assert!(table.contains("| `CosineAnnealingLR` | `cosine`, `cos` | η annealed"), "{table}");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    for table in table.split("\n\n") {
        assert!(readme.contains(table), "the README's table differs from `descent list --format markdown`:\n{table}");
    }
}

#[test]
fn lbfgs_runs_on_landscapes_one_row_per_step() {
    let text = ok(&[
        "run",
        "-f",
        "rosenbrock",
        "-o",
        "lbfgs(line_search_fn=\"strong_wolfe\")",
        "--start",
        "-1.5,2",
        "--steps",
        "4",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = json["trajectory"].as_array().unwrap();
    assert_eq!(rows.len(), 5, "one row per step and the start");
    // Each step evaluates the gradient several times: its iterations and the line search's trials.
    let evaluations: Vec<u64> = rows.iter().map(|r| r["evaluations"].as_u64().unwrap()).collect();
    assert_eq!(evaluations[0], 0);
    assert!(evaluations[1] > 1 && evaluations.windows(2).all(|w| w[1] > w[0]), "{evaluations:?}");
    assert_eq!(json["evaluations"].as_u64(), Some(evaluations[4]));
    // Rosenbrock's minimum is (1, 1).
    let end = rows[4]["x"].as_array().unwrap();
    assert!(end.iter().all(|v| (v.as_f64().unwrap() - 1.0).abs() < 1e-4), "{end:?}");
    let csv = ok(&["run", "-f", "rosenbrock", "-o", "lbfgs", "--steps", "3"]);
    assert_eq!(csv.lines().count(), 5, "a header, the start and one row per step");
}

#[test]
fn the_rest_of_torch_optim_refuses_bad_input() {
    let run = |spec: &str, message: &str| fails(&["run", "-f", "sphere", "-o", spec, "--steps", "3"], message);
    run("muon", "Muon optimizes only 2-D parameters (matrices)");
    run("adafactor(beta2_decay=0.5)", "Adafactor: invalid beta2_decay = 0.5 (expected a finite number <= 0)");
    run("rprop(etas=(1.5, 0.5))", "invalid eta values: 1.5, 0.5 (expected 0 < etaminus < 1 < etaplus)");
    run("lbfgs(max_iter=0)", "LBFGS: invalid max_iter = 0 (expected an integer >= 1)");
    run("lbfgs(line_search_fn=\"backtracking\")", "unknown variant `backtracking`, expected `strong_wolfe`");
}

#[test]
fn every_command_spells_the_optimizer_flag_every_way() {
    for flag in ["-o", "--optimizer", "--optimizers"] {
        ok(&["run", "-f", "sphere", flag, "sgd", "--steps", "2"]);
        ok(&["race", "-f", "sphere", flag, "sgd", "adam", "--steps", "2"]);
        ok(&["bench", flag, "sgd", "--params", "1000", "--repeats", "1"]);
    }
}

#[test]
fn run_json_puts_one_point_on_a_line() {
    let text = ok(&["run", "-f", "rosenbrock", "-o", "adam(lr=0.05)", "--steps", "300", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["trajectory"].as_array().unwrap().len(), 301);
    assert!(text.lines().count() < 301 + 40, "{} lines", text.lines().count());
    assert!(text.contains("\n    {\"step\":300,"), "each point on its own line");
}

#[test]
fn reports_name_their_tolerance_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("race.svg");
    let text = ok(&[
        "race",
        "-f",
        "sphere",
        "-o",
        "sgd",
        "--steps",
        "3",
        "--tolerance",
        "0.01",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(text.contains("first within 0.01"), "{text}");
    assert!(text.ends_with(&format!("Wrote {}\n", svg.display())), "{text}");
    let json =
        ok(&["race", "-f", "sphere", "-o", "sgd", "--steps", "3", "--format", "json", "--plot", svg.to_str().unwrap()]);
    serde_json::from_str::<serde_json::Value>(&json).expect("the JSON report stays JSON");
    let train = ok(&["train", "--epochs", "1", "-o", "sgd(lr=0.1)", "--hidden", "8"]);
    assert!(train.contains("(in steps: the share of the time spent in optimizer steps"), "{train}");
}

#[test]
fn race_tables_tell_where_each_run_ended() {
    // Rastrigin from (3.2, −2.1): plain descent stops in the local minimum near (3, −2). Its point is a root of
    // ∂J/∂x = 2x + 20π sin 2πx, and its value is J's formula there.
    let args = ["race", "-f", "rastrigin", "--start", "3.2,-2.1", "-o", "sgd(lr=0.002)", "--steps", "400"];
    let table = ok(&args);
    let row = table.lines().find(|l| l.starts_with("sgd(lr=0.002)")).unwrap();
    assert!(
        row.contains("local minimum (2.985, -1.99), J = 12.93") && row.ends_with("stuck in a local minimum"),
        "{row}"
    );
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&ok(&json_args)).unwrap();
    let ended = &json[0]["ended_at"];
    assert_eq!(ended["kind"], "local minimum");
    let point: Vec<f64> = ended["point"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let tau = 2.0 * std::f64::consts::PI;
    for x in &point {
        assert!((2.0 * x + 10.0 * tau * (tau * x).sin()).abs() < 1e-9, "{x}");
    }
    let value = 20.0 + point.iter().map(|x| x * x - 10.0 * (tau * x).cos()).sum::<f64>();
    assert!((ended["value"].as_f64().unwrap() - value).abs() < 1e-12);

    // The saddle's table says who stalled there and who escaped, when, and how far down it went.
    let table = ok(&[
        "race",
        "-f",
        "saddle",
        "--start",
        "-1.8,0.001",
        "-o",
        "sgd(lr=0.02)",
        "momentum(lr=0.02)",
        "--steps",
        "120",
    ]);
    assert!(table.contains("left the saddle") && table.contains("below the saddle"), "{table}");
    let sgd = table.lines().find(|l| l.starts_with("sgd(lr=0.02)")).unwrap();
    let cells: Vec<&str> = sgd.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(cells[4..], ["no", "0.01207", "stuck at the saddle"], "{sgd}");
    let momentum = table.lines().find(|l| l.starts_with("momentum(lr=0.02)")).unwrap();
    assert!(momentum.contains("step 12") && momentum.ends_with("escaped the saddle"), "{momentum}");
}

#[test]
fn coinciding_paths_are_named_in_the_legend() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("same.svg");
    // `momentum` is `sgd(momentum=0.9)`: the same path twice, and a third that differs.
    ok(&[
        "race",
        "-f",
        "quadratic",
        "--steps",
        "30",
        "-o",
        "sgd(lr=0.05, momentum=0.9)",
        "momentum(lr=0.05)",
        "sgd(lr=0.05)",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert_svg_texts(&svg, &["momentum(lr=0.05) (on sgd(lr=0.05, momentum=0.9)'s path)", "sgd(lr=0.05)"]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(!text.contains("sgd(lr=0.05) (on"), "a different path is not named as the same");
}
