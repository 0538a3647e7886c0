//! Hostile and mistaken input, each as the exact command that once crashed, hung, exhausted memory or lost a file:
//! now one line on standard error, exit code 2, nothing printed, files untouched, all within bounded time.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Runs `descent args` with a time limit.
fn descent(args: &[&str]) -> Output {
    Command::cargo_bin("descent").unwrap().args(args).timeout(Duration::from_secs(60)).output().unwrap()
}

/// Expects exit code 2 within `seconds`, one line on standard error that contains `message`, and no output.
fn refused_within(seconds: u64, args: &[&str], message: &str) {
    let started = Instant::now();
    let output = descent(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let shown: Vec<String> = args.iter().map(|a| a.chars().take(50).collect()).collect();
    assert_eq!(output.status.code(), Some(2), "{shown:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{shown:?}: not one line: {stderr}");
    assert!(stderr.len() < 600, "{shown:?}: {} bytes of error", stderr.len());
    assert!(stderr.contains(message), "{shown:?}: {stderr:?} does not say {message:?}");
    assert!(output.stdout.is_empty(), "{shown:?}: printed {}", String::from_utf8_lossy(&output.stdout));
    assert!(started.elapsed() < Duration::from_secs(seconds), "{shown:?} took {:?}", started.elapsed());
}

fn refused(args: &[&str], message: &str) {
    refused_within(5, args, message);
}

fn succeeds(args: &[&str]) -> Output {
    let output = descent(args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

#[test]
fn expressions_that_overflowed_the_stack_or_hung() {
    let sum = vec!["x"; 150].join("+");
    let polynomial: String = (1..=150).map(|k| format!("+{k}e-3*x^{}*y", k % 5)).collect();
    for text in [&sum, &polynomial] {
        succeeds(&["run", "-o", "sgd", "-f", text, "--start", "0.5,0.5", "--steps", "3"]);
    }
    let tower = vec!["x"; 100].join("^");
    refused(&["run", "-o", "sgd", "-f", &tower], "too many powers in a row");
    for depth in [200, 1000, 10_000] {
        let nested = format!("{}x{}", "sin(".repeat(depth), ")".repeat(depth));
        let expected = if nested.len() > 4096 { "too long" } else { "nested too deeply" };
        refused(&["run", "-o", "sgd", "-f", &nested], expected);
    }
    refused(&["run", "-o", "sgd", "-f", &vec!["x"; 10_000].join("+")], "too long: 19999 characters (at most 4096)");
}

#[test]
fn expressions_that_were_refused_are_read() {
    for text in ["x-y", "1e-3*x^2 + y^2", "abs(x) + abs(y)", "-x^2 + y^2"] {
        succeeds(&["run", "-o", "sgd", "-f", text, "--start", "0.5,0.5", "--steps", "3"]);
    }
    let csv = String::from_utf8(succeeds(&["run", "-o", "sgd", "-f", "-x^2", "--start", "1,1", "--steps", "1"]).stdout)
        .unwrap();
    // J = −x², so from x = 1 the gradient −2 moves x to 1 + 0.001·2.
    assert!(csv.lines().nth(2).unwrap().starts_with("1,1.002,1.0,"), "{csv}");
}

#[test]
fn specs_nested_or_long_are_refused_in_one_short_line() {
    for open in ["(", "["] {
        let nested = format!("adam(betas={})", open.repeat(26_000));
        refused(&["run", "-f", "sphere", "-o", &nested], "too long: 26012 characters (at most 4096)");
        let nested = format!("adam(betas={}", open.repeat(1000));
        refused(&["race", "-f", "sphere", "--optimizers", &nested], "values nest more than 8 deep");
        refused(&["train", "--optimizers", &nested], "values nest more than 8 deep");
        refused(&["bench", "--optimizer", &nested], "values nest more than 8 deep");
    }
    let long = format!("adam(lr={})", "1".repeat(20_000));
    refused(&["run", "-f", "sphere", "-o", &long], "too long");
    refused(&["run", "-f", "sphere", "-o", "adam(\nlr=1, foo=2)"], "unknown key `foo`");
    refused(&["run", "-f", "sphere", "-o", "sgd", "--start", "1\n2"], "\"1\\n2\" is not a finite number");
}

#[test]
fn sizes_that_aborted_an_allocation_are_refused_with_their_bound() {
    refused(&["train", "--hidden", "100000000"], "from 1 to 100000");
    refused(&["train", "--hidden", "4294967296,4294967296"], "from 1 to 100000");
    refused(&["train", "--hidden", "18446744073709551615"], "from 1 to 100000");
    refused(&["train", "--hidden", "100000,100000"], "more than 100000000 parameters");
    refused(&["bench", "--params", "100000000000"], "100000000000 is not in 1..=1000000000");
    refused(&["bench", "--params", "18446744073709551615"], "is not in 1..=1000000000");
    refused(&["run", "-o", "sgd", "-f", "sphere", "--dim", "1000000000000"], "is not in 1..=1000000");
    refused(&["race", "-f", "sphere", "--dim", "1000000000000"], "is not in 1..=1000000");
    refused(&["race", "-f", "sphere", "--dim", "100000", "--steps", "1000"], "at most 25000000");
    refused(&["run", "-o", "sgd", "-f", "sphere", "--steps", "10000000000"], "is not in 1..=1000000");
    refused(&["bench", "--tensors", "1000000000", "--params", "1000000000"], "is not in 1..=1000000");
    refused(&["bench", "--threads", "100000", "--params", "1000"], "100000 is not in 1..=256");
    refused(&["bench", "--threads", "10000", "--params", "1000"], "10000 is not in 1..=256");
    refused(&["bench", "--repeats", "1000000", "--params", "1000"], "is not in 1..=1000");
    refused(&["train", "--epochs", "1000000"], "is not in 1..=1000");
    let many: Vec<&str> = std::iter::repeat_n("sgd", 65).collect();
    refused(&[&["race", "-f", "sphere", "--optimizers"][..], &many].concat(), "65 optimizers given, at most 64");
}

/// Writes the four IDX files of a dataset into `folder`, the training images as `images` bytes.
fn dataset(folder: &Path, images: &[u8]) {
    let idx = |magic: u32, dims: &[u32], values: &[u8]| {
        let mut bytes = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|d| bytes.extend(d.to_be_bytes()));
        bytes.extend(values);
        bytes
    };
    std::fs::write(folder.join("train-images-idx3-ubyte.gz"), images).unwrap();
    std::fs::write(folder.join("train-labels-idx1-ubyte"), idx(0x801, &[4], &[0, 1, 2, 3])).unwrap();
    std::fs::write(folder.join("t10k-images-idx3-ubyte"), idx(0x803, &[4, 1, 1], &[9; 4])).unwrap();
    std::fs::write(folder.join("t10k-labels-idx1-ubyte"), idx(0x801, &[4], &[0, 1, 2, 3])).unwrap();
}

fn gzip(chunks: &[&[u8]]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    for chunk in chunks {
        encoder.write_all(chunk).unwrap();
    }
    encoder.finish().unwrap()
}

#[test]
fn hostile_idx_files_are_refused_before_memory_is_spent() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap();
    // A header whose dimensions multiply to 2^64, which wraps to 0.
    let mut header = 0x803u32.to_be_bytes().to_vec();
    [1u32 << 22, 1 << 21, 1 << 21].iter().for_each(|d| header.extend(d.to_be_bytes()));
    dataset(dir.path(), &gzip(&[&header]));
    refused(&["train", "--data-dir", folder], "declare more than 2147483648 bytes");
    // A gzip bomb: 512 MiB of zeros, with no header, then with a valid one.
    let zeros = vec![0u8; 1 << 20];
    let bomb: Vec<&[u8]> = std::iter::repeat_n(zeros.as_slice(), 512).collect();
    dataset(dir.path(), &gzip(&bomb));
    refused(&["train", "--data-dir", folder], "magic number 0x00000000");
    let mut valid = 0x803u32.to_be_bytes().to_vec();
    [4u32, 1, 1].iter().for_each(|d| valid.extend(d.to_be_bytes()));
    dataset(dir.path(), &gzip(&[&[&valid[..]], &bomb[..]].concat()));
    refused(&["train", "--data-dir", folder], "more than 1048575 bytes after the 4");
    // Several gzip members, as `cat a.gz b.gz` makes, are one file.
    let mut joined = gzip(&[&valid[..10]]);
    joined.extend(gzip(&[&valid[10..], &[0, 64, 128, 255]]));
    dataset(dir.path(), &joined);
    succeeds(&["train", "--data-dir", folder, "--epochs", "1", "--batch-size", "2", "--optimizers", "sgd"]);
}

#[test]
fn values_that_do_not_fit_or_diverge_are_said() {
    refused(&["run", "-o", "sgd", "--dtype", "f32", "-f", "sphere", "--start", "1e39,1"], "does not fit in f32");
    let output = succeeds(&["run", "-o", "sgd(lr=10)", "-f", "sphere", "--start", "1,1"]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("warning: diverged at step ") && stderr.lines().count() == 1, "{stderr}");
    let csv = String::from_utf8(output.stdout).unwrap();
    assert!(csv.lines().last().unwrap().ends_with(",inf"), "{csv}");
}

#[test]
fn a_start_outside_the_map_is_named_not_drawn_at_its_edge() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("far.svg");
    succeeds(&["race", "-f", "sphere", "--start", "1e10,1e10", "--steps", "5", "--plot", plot.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("start (outside the map, at 1e10, 1e10)"), "no legend entry");
    assert!(svg.contains("SGD (outside the map)"), "no trajectory label");
}

#[test]
fn every_mistake_is_caught_before_any_work() {
    let started = Instant::now();
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let inside_file = format!("{}/x.svg", file.display());
    refused(&["race", "-f", "sphere", "--plot", &inside_file], "is not a folder");
    refused(&["tour", "--out", file.to_str().unwrap()], "it is a file, not a folder");
    refused(&["train", "--data-dir", file.to_str().unwrap()], "is a file, not a folder of IDX files");
    let slash = format!("{}/x.svg/", dir.path().display());
    refused(&["race", "-f", "sphere", "--plot", &slash], "the name ends in /");
    let newline = format!("{}/a\nb/x.svg", dir.path().display());
    refused(&["race", "-f", "sphere", "--plot", &newline], "a\\nb");
    refused(&["run", "-o", "sgd", "-f", "x\n+ z"], "unknown variable `z`");
}

#[test]
fn a_long_legal_file_name_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{}.svg", "p".repeat(246));
    let path = dir.path().join(&name);
    succeeds(&["race", "-f", "sphere", "--steps", "5", "--plot", path.to_str().unwrap()]);
    assert!(path.is_file());
}

/// Runs `descent args` with writes limited to 16 KiB (as a nearly full disk would), SIGXFSZ ignored so that a
/// write past the limit fails with an error instead of killing the process.
fn with_small_disk(args: &[&str]) -> Output {
    let binary = assert_cmd::cargo::cargo_bin("descent");
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!("trap '' XFSZ; ulimit -f 16; exec '{}' {}", binary.display(), quoted.join(" "));
    std::process::Command::new("sh").args(["-c", &script]).output().unwrap()
}

#[test]
fn a_failed_picture_write_leaves_the_old_file_and_no_temporary_one() {
    let dir = tempfile::tempdir().unwrap();
    for (name, flag) in [("x.svg", "--plot"), ("x.png", "--plot"), ("x.gif", "--animate")] {
        let path = dir.path().join(name);
        std::fs::write(&path, "the previous picture").unwrap();
        let output = with_small_disk(&["race", "-f", "sphere", "--steps", "20", flag, path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains(&format!("cannot write {}: File too large", path.display())), "{name}: {stderr}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the previous picture", "{name}");
    }
    let curves = dir.path().join("curves.svg");
    std::fs::write(&curves, "the previous picture").unwrap();
    let output =
        with_small_disk(&["train", "--epochs", "1", "--optimizers", "sgd", "--plot", curves.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(&curves).unwrap(), "the previous picture");
    let tour = dir.path().join("tour");
    std::fs::create_dir(&tour).unwrap();
    std::fs::write(tour.join("bowl.svg"), "the previous picture").unwrap();
    let output = with_small_disk(&["tour", "--no-animation", "--out", tour.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(tour.join("bowl.svg")).unwrap(), "the previous picture");
    for folder in [dir.path(), tour.as_path()] {
        let left: Vec<_> = std::fs::read_dir(folder).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        assert!(left.iter().all(|n| !n.to_string_lossy().contains("partial")), "left behind: {left:?}");
    }
}

#[test]
fn a_closed_output_stops_the_command_before_its_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("race.svg");
    let full = std::fs::File::options().write(true).open("/dev/full").unwrap();
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("descent"))
        .args(["race", "-f", "sphere", "--steps", "5", "--plot", plot.to_str().unwrap()])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("No space left on device"));
    assert!(!plot.exists(), "the picture was written");
}

#[test]
fn rewriting_keeps_permissions_and_writes_through_symbolic_links() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.svg");
    std::fs::write(&private, "old").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    succeeds(&["race", "-f", "sphere", "--steps", "5", "--plot", private.to_str().unwrap()]);
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&private).unwrap().starts_with("<svg"));

    let target = dir.path().join("target.svg");
    let link = dir.path().join("link.svg");
    std::fs::write(&target, "old").unwrap();
    std::os::unix::fs::symlink("target.svg", &link).unwrap();
    succeeds(&["race", "-f", "sphere", "--steps", "5", "--plot", link.to_str().unwrap()]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert!(std::fs::read_to_string(&target).unwrap().starts_with("<svg"));
}

#[test]
fn a_signal_during_an_animation_removes_its_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    // A leftover of a killed run does not stand in the way.
    std::fs::write(dir.path().join(".descent-1-0.partial.gif"), "stale").unwrap();
    for signal in ["TERM", "INT", "HUP"] {
        let gif = dir.path().join("race.gif");
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("descent"))
            .args(["race", "-f", "rastrigin", "--steps", "20000", "--animate", gif.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let partial = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(&format!(".descent-{pid}-")))
                .count()
        };
        let started = Instant::now();
        while partial() == 0 {
            assert!(started.elapsed() < Duration::from_secs(30), "no temporary file appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The shell's own `kill`, which every system has.
        std::process::Command::new("sh").args(["-c", &format!("kill -{signal} {pid}")]).status().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "{signal}: {status}");
        assert_eq!(partial(), 0, "{signal}: the temporary file is left");
        assert!(!gif.exists(), "{signal}: a half animation was renamed into place");
    }
}

/// Pieces that random inputs are made of: each a valid choice and a hostile or mistaken one.
const SPEC_NAMES: [&[&str]; 2] = [&["sgd", "adam", "AdamW", "rmsprop"], &["nag", "adamx", "", "Adam!", "sgd sgd"]];
const SPEC_KEYS: [&[&str]; 2] = [&["lr"], &["betas", "momentum", "eps", "nesterov", "x", "lr lr"]];
const VALUES: [&[&str]; 2] = [
    &["0.1", "1e-3", "0.5"],
    &[
        "-1",
        "1e308",
        "1e400",
        "nan",
        "inf",
        "True",
        "None",
        "(0.9, 0.99)",
        "[0.9]",
        "\"a\"",
        "((((",
        "0x10",
        "1_000",
        "",
    ],
];
const EXPRESSIONS: [&[&str]; 2] = [
    &["x^2 + y^2", "abs(x) + 1e-3*y", "-x^2 + y^2", "sin(x)*cos(y)", "x-y", "(x - 1)**2 + 2*y^2"],
    &["x^", "sin x", "z", "((x)", "x y", "**x", "1e", "x^x^x^x", ""],
];
const NUMBERS: [&[&str]; 2] =
    [&["0", "1", "-1", "1.5", "0.25"], &["1e39", "1e400", "18446744073709551616", "nan", "", "x"]];
const STEPS: [&[&str]; 2] = [&["1", "10", "100"], &["0", "1e3", "99999999999", "-1"]];

#[test]
fn random_command_lines_exit_0_or_2_with_one_line() {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    // Mostly valid pieces, so that about half the command lines run and the rest are refused.
    let mut pick = |choices: [&[&'static str]; 2]| {
        let items = if rng.random_bool(0.85) { choices[0] } else { choices[1] };
        items[rng.random_range(0..items.len())]
    };
    let mut exits = [0usize; 2];
    for _ in 0..300 {
        let key = pick(SPEC_KEYS);
        let spec = match pick([&["plain", "keyed"], &["keyed"]]) {
            "plain" => pick(SPEC_NAMES).to_owned(),
            _ => format!("{}({key}={})", pick(SPEC_NAMES), pick(VALUES)),
        };
        let function = pick([&["sphere", "rosenbrock", "saddle", "expression"], &["spher", "beale-", "x,y"]]);
        let function = if function == "expression" { pick(EXPRESSIONS) } else { function };
        let start = format!("{},{}", pick(NUMBERS), pick(NUMBERS));
        let args = [
            "run",
            "-f",
            function,
            "-o",
            &spec,
            "--start",
            &start,
            "--steps",
            pick(STEPS),
            "--dtype",
            pick([&["f32", "f64"], &["f16"]]),
        ];
        let output = descent(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            Some(0) => {
                exits[0] += 1;
                assert!(!output.stdout.is_empty(), "{args:?}: no output");
            }
            Some(2) => {
                exits[1] += 1;
                assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
                assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
            }
            _ => panic!("{args:?}: {:?} {stderr}", output.status),
        }
    }
    // Both kinds of command line were made: ones that run and ones that are refused.
    assert!(exits.iter().all(|&n| n >= 20), "exits 0 and 2: {exits:?}");
}
