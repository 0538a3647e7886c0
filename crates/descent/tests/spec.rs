//! Optimizer specs: the names and syntax users write, and every way to get them wrong.

use descent::{
    catalog, Adadelta, Adagrad, Adam, AdamW, Error, LookaheadNesterov, Param, RmsProp, Sgd, Shape, Spec, SpecError,
};
use proptest::prelude::*;

fn parse(text: &str) -> Result<Spec, SpecError> {
    text.parse()
}

#[test]
fn bare_names_take_pytorch_defaults() {
    assert_eq!(parse("sgd"), Ok(Spec::from_rule(Sgd::default())));
    assert_eq!(parse("adagrad"), Ok(Spec::from_rule(Adagrad::default())));
    assert_eq!(parse("RMSprop"), Ok(Spec::from_rule(RmsProp::default())));
    assert_eq!(parse("Adadelta()"), Ok(Spec::from_rule(Adadelta::default())));
    assert_eq!(parse("  adam  "), Ok(Spec::from_rule(Adam::default())));
    assert_eq!(parse("AdamW"), Ok(Spec::from_rule(AdamW { weight_decay: 1e-2, ..AdamW::default() })));
    assert_eq!(parse("nag"), Ok(Spec::from_rule(LookaheadNesterov { lr: 1e-3, momentum: 0.9 })));
    assert_eq!(parse("lookahead-nesterov"), parse("lookahead_nesterov"));
}

#[test]
fn keys_use_pytorch_names_and_python_values() {
    assert_eq!(
        parse("sgd(lr=0.01, momentum=0.9, nesterov=True)"),
        Ok(Spec::from_rule(Sgd { lr: 0.01, momentum: 0.9, nesterov: true, ..Sgd::default() }))
    );
    assert_eq!(
        parse("adam(lr=1e-3, betas=(0.9, 0.99), amsgrad=true)"),
        Ok(Spec::from_rule(Adam { betas: (0.9, 0.99), amsgrad: true, ..Adam::default() }))
    );
    assert_eq!(parse("adam(betas=[0.5, 0.9],)"), Ok(Spec::from_rule(Adam { betas: (0.5, 0.9), ..Adam::default() })));
    assert_eq!(parse("rmsprop(centered=True)"), Ok(Spec::from_rule(RmsProp { centered: true, ..RmsProp::default() })));
    assert_eq!(parse("adagrad(lr_decay=1e-4)"), Ok(Spec::from_rule(Adagrad { lr_decay: 1e-4, ..Adagrad::default() })));
    assert_eq!(parse("adadelta(rho=0.95)"), Ok(Spec::from_rule(Adadelta { rho: 0.95, ..Adadelta::default() })));
    assert_eq!(parse("adamw(weight_decay=0.1)"), Ok(Spec::from_rule(AdamW { weight_decay: 0.1, ..AdamW::default() })));
    assert_eq!(parse("sgd(lr=.5, momentum=0)"), Ok(Spec::from_rule(Sgd { lr: 0.5, ..Sgd::default() })));
}

#[test]
fn presets_start_from_their_own_defaults() {
    let momentum = Sgd { momentum: 0.9, ..Sgd::default() };
    let sgd = |text: &str| parse(text).unwrap().rule::<Sgd>().copied();
    assert_eq!(sgd("momentum"), Some(momentum));
    assert_eq!(sgd("momentum(lr=0.1)"), Some(Sgd { lr: 0.1, ..momentum }));
    assert_eq!(sgd("nesterov"), Some(Sgd { nesterov: true, ..momentum }));
    assert_eq!(parse("momentum").unwrap().to_string(), "momentum");
    assert_eq!(parse("nesterov(lr=0.1)").unwrap().to_string(), "nesterov(lr=0.1)");
}

/// Every registered name, in the registry's order.
fn known() -> String {
    catalog().iter().map(|entry| entry.name()).collect::<Vec<_>>().join(", ")
}

#[test]
fn unknown_names_and_keys_say_what_is_accepted() {
    assert_eq!(
        parse("adamx").unwrap_err().to_string(),
        format!("unknown optimizer \"adamx\" (did you mean \"adam\"? known: {})", known())
    );
    assert!(known().starts_with("sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamw, nadam, radam, "));
    assert_eq!(
        parse("sgd(lr=0.1, nesterov=True, momentum=0.9, dampen=0.1)").unwrap_err().to_string(),
        "sgd: unknown key `dampen` (accepted: lr, momentum, dampening, weight_decay, nesterov, maximize)"
    );
}

#[test]
fn unknown_names_get_the_closest_known_one() {
    let suggestion = |text: &str| match parse(text) {
        Err(SpecError::UnknownOptimizer { suggestion, .. }) => suggestion,
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(suggestion("adamm").as_deref(), Some("adam"));
    assert_eq!(suggestion("RMSProb").as_deref(), Some("rmsprop"));
    assert_eq!(suggestion("nestrov(lr=0.1)").as_deref(), Some("nesterov"));
    assert_eq!(suggestion("nagg").as_deref(), Some("nag"));
    assert_eq!(suggestion("ngd").as_deref(), Some("sgd"));
    assert_eq!(suggestion("bfgs").as_deref(), Some("lbfgs"));
    assert_eq!(suggestion("newton"), None, "nothing is close");
    assert_eq!(parse("xyz").unwrap_err().to_string(), format!("unknown optimizer \"xyz\" (known: {})", known()));
}

#[test]
fn malformed_values_name_the_key() {
    assert_eq!(parse("adam(lr=True)").unwrap_err().to_string(), "adam: lr: invalid type: boolean `true`, expected f64");
    assert_eq!(
        parse("adam(betas=0.9)").unwrap_err().to_string(),
        "adam: betas: invalid type: floating point `0.9`, expected a tuple of size 2"
    );
    assert_eq!(
        parse("sgd(nesterov=1)").unwrap_err().to_string(),
        "sgd: nesterov: invalid type: integer `1`, expected a boolean"
    );
}

#[test]
fn syntax_errors_point_at_the_column() {
    let cases = [
        ("adam(lr 0.1)", "expected `=` after `lr`", 9),
        ("adam(lr=)", "expected a value", 9),
        ("adam(lr=0.1", "expected `,` or `)`", 12),
        ("adam(lr=abc)", "`abc` is not a number or a boolean", 12),
        ("adam(lr=nan)", "nan is not finite", 12),
        ("adam(lr=1, lr=2)", "`lr` is given twice", 14),
        ("adam) x", "unexpected text after the spec", 5),
        ("(lr=1)", "expected a name", 1),
        ("", "expected a name", 1),
    ];
    for (text, message, column) in cases {
        let expected = SpecError::Syntax { spec: text.into(), message: message.into(), column };
        assert_eq!(parse(text), Err(expected), "{text}");
    }
}

#[test]
fn invalid_values_are_rejected_with_pytorch_rules() {
    assert_eq!(
        parse("adam(betas=(0.9, 1.0))").unwrap_err().to_string(),
        "Adam: invalid betas[1] = 1 (expected 0 <= value < 1)"
    );
    assert!(matches!(
        parse("sgd(nesterov=True)"),
        Err(SpecError::Invalid(Error::InvalidCombination { optimizer: "SGD", .. }))
    ));
    assert!(matches!(parse("adadelta(rho=1.5)"), Err(SpecError::Invalid(Error::InvalidHyperparameter { .. }))));
    assert!(matches!(parse("nag(lr=-1)"), Err(SpecError::Invalid(Error::InvalidHyperparameter { .. }))));
    let cases = [
        ("rprop(etas=(1.2, 0.5))", "rprop: etas: invalid eta values: 1.2, 0.5 (expected 0 < etaminus < 1 < etaplus)"),
        ("rprop(etas=(0.5, 1.0))", "rprop: etas: invalid eta values: 0.5, 1 (expected 0 < etaminus < 1 < etaplus)"),
        ("adafactor(beta2_decay=0.5)", "Adafactor: invalid beta2_decay = 0.5 (expected a finite number <= 0)"),
        ("adafactor(d=0.5)", "Adafactor: invalid d = 0.5 (expected a finite number >= 1)"),
        ("adafactor(eps=(-1, 1e-3))", "Adafactor: invalid eps[0] = -1 (expected a finite number >= 0)"),
        ("asgd(lambd=-1)", "ASGD: invalid lambd = -1 (expected a finite number >= 0)"),
    ];
    for (text, message) in cases {
        assert_eq!(parse(text).unwrap_err().to_string(), message, "{text}");
    }
}

#[test]
fn the_alternate_form_lists_every_hyperparameter() {
    let spec = parse("sgd(lr=0.5)").unwrap();
    assert_eq!(
        format!("{spec:#}"),
        "sgd(lr=0.5, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)"
    );
    assert_eq!(parse(&format!("{spec:#}")), Ok(spec));
}

#[test]
fn hyperparameters_are_complete_json_with_pytorch_keys() {
    let json = parse("adamw(lr=0.01)").unwrap().hyperparameters();
    assert_eq!(
        json,
        // PyTorch's keys, and descent's `state` (how the moments are kept).
        serde_json::json!({"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01,
                           "amsgrad": false, "maximize": false, "state": "f32"})
    );
}

#[test]
fn lookahead_nesterov_runs_only_with_a_gradient_closure() {
    let spec = parse("nag(lr=0.1)").unwrap();
    let mut opt = spec.build::<f32>([Param::new(1)]).unwrap();
    let err = opt.step(&mut [&mut [1.0]], &[Some(&[1.0])]).unwrap_err();
    assert_eq!(err, Error::NeedsClosure { optimizer: "LookaheadNesterov" });
    assert!(opt.state(0).is_none(), "the refused step changed nothing");
    let mut flat = spec.build_flat::<f64>(1).unwrap();
    let mut theta = vec![1.0];
    let loss = flat.step(&mut theta, |p, g| {
        g[0] = 2.0 * p[0];
        p[0] * p[0]
    });
    assert_eq!(loss, Ok(1.0));
    assert_eq!(theta, [0.8]);
}

#[test]
fn every_catalog_entry_builds() {
    for entry in catalog() {
        let spec = parse(entry.name()).unwrap();
        assert_eq!(&spec, entry.defaults());
        if spec.layout(&Shape::from(3)).is_err() {
            // Muon takes only matrices, and says so.
            assert!(matches!(spec.build_flat::<f32>(3), Err(Error::UnsupportedShape { .. })), "{}", entry.name());
            continue;
        }
        let mut flat = spec.build_flat::<f32>(3).unwrap();
        let mut theta = vec![1.0f32; 3];
        // Two steps: SOAP's first only measures.
        for _ in 0..2 {
            flat.step(&mut theta, |p, g| {
                g.copy_from_slice(p);
                0.0
            })
            .unwrap();
        }
        assert!(theta.iter().all(|&v| v < 1.0), "{}: {theta:?}", entry.name());
        assert_eq!(flat.lr(), spec.lr());
    }
}

fn any_spec() -> impl Strategy<Value = Spec> {
    let unit = 0.0..0.999f64;
    let small = prop_oneof![Just(0.0), 1e-6..1.0f64];
    prop_oneof![
        (small.clone(), unit.clone(), any::<bool>(), any::<bool>()).prop_map(|(lr, momentum, nesterov, maximize)| {
            Spec::from_rule(Sgd { lr, momentum, nesterov: nesterov && momentum > 0.0, maximize, ..Sgd::default() })
        }),
        (small.clone(), small.clone(), small.clone()).prop_map(|(lr, lr_decay, initial_accumulator_value)| {
            Spec::from_rule(Adagrad { lr, lr_decay, initial_accumulator_value, ..Adagrad::default() })
        }),
        (small.clone(), unit.clone(), any::<bool>()).prop_map(|(lr, alpha, centered)| {
            Spec::from_rule(RmsProp { lr, alpha, centered, ..RmsProp::default() })
        }),
        (small.clone(), unit.clone()).prop_map(|(lr, rho)| Spec::from_rule(Adadelta {
            lr,
            rho,
            ..Adadelta::default()
        })),
        (small.clone(), unit.clone(), unit.clone(), any::<bool>()).prop_map(|(lr, b1, b2, amsgrad)| {
            Spec::from_rule(Adam { lr, betas: (b1, b2), amsgrad, ..Adam::default() })
        }),
        (small.clone(), small.clone())
            .prop_map(|(lr, weight_decay)| { Spec::from_rule(AdamW { lr, weight_decay, ..AdamW::default() }) }),
        (small, unit).prop_map(|(lr, momentum)| Spec::from_rule(LookaheadNesterov { lr, momentum })),
    ]
}

proptest! {
    #[test]
    fn display_parses_back_to_the_same_spec(spec in any_spec()) {
        let text = spec.to_string();
        prop_assert_eq!(parse(&text), Ok(spec), "{}", text);
    }
}

/// A spec's text with `edits` applied: each replaces, inserts or deletes one character at a position.
fn mutated(text: &str, edits: &[(usize, u8, char)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, kind, c) in edits {
        let at = at % (chars.len() + 1);
        match kind % 3 {
            0 if at < chars.len() => chars[at] = c,
            1 => chars.insert(at, c),
            _ if at < chars.len() => {
                chars.remove(at);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn spec_char() -> impl Strategy<Value = char> {
    prop::sample::select("adm_(),=[]'\" .0123456789eE+-TrueFalseNone\n".chars().collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random, mutated and deeply nested texts are refused or read, quickly; what is read prints back to itself.
    #[test]
    fn any_text_is_parsed_or_refused_quickly(
        spec in any_spec(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), spec_char()), 0..8),
        noise in prop::collection::vec(spec_char(), 0..200),
        depth in 0usize..20_000,
    ) {
        let nested = format!("adam(betas={}0.9, 0.99{}", "(".repeat(depth), ")".repeat(depth / 2));
        let texts = [mutated(&spec.to_string(), &edits), noise.into_iter().collect(), nested];
        for text in &texts {
            let started = std::time::Instant::now();
            if let Ok(read) = parse(text) {
                prop_assert_eq!(parse(&read.to_string()), Ok(read.clone()), "{:?}", text);
            }
            prop_assert!(started.elapsed() < std::time::Duration::from_millis(100), "{:?} took {:?}",
                text.chars().take(80).collect::<String>(), started.elapsed());
        }
    }
}
