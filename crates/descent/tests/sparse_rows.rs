//! SparseAdam's sparse gradients (row indices and values) step exactly as the dense gradients with the same rows
//! touched, which the PyTorch parity test checks; repeated rows are summed, listed zero rows are stepped, and bad
//! indices change nothing.

use descent::{Error, Optimizer, Param, SparseAdam};

fn value(step: usize, i: usize) -> f32 {
    (((step * 7919 + i * 104_729) % 2001) as f32 / 1000.0) - 1.0
}

#[test]
fn rows_step_as_the_dense_gradient_with_those_rows() {
    let hyper = SparseAdam { lr: 0.01, ..SparseAdam::default() };
    let mut sparse =
        Optimizer::<SparseAdam, f32>::new(hyper, [Param::named("E", [6, 4]), Param::named("v", 5)]).unwrap();
    let mut dense = sparse.clone();
    let (mut e_sparse, mut v_sparse) = (vec![0.25_f32; 24], vec![-0.5_f32; 5]);
    let (mut e_dense, mut v_dense) = (e_sparse.clone(), v_sparse.clone());
    for step in 1..=8 {
        let rows: Vec<usize> = (0..6).filter(|r| (r + step) % 3 != 0).collect();
        let values: Vec<f32> = rows.iter().flat_map(|&r| (0..4).map(move |c| value(step, r * 4 + c))).collect();
        let mut grad = vec![0.0_f32; 24];
        for (k, &r) in rows.iter().enumerate() {
            grad[r * 4..r * 4 + 4].copy_from_slice(&values[k * 4..k * 4 + 4]);
        }
        sparse.step_rows(0, &mut e_sparse, &rows, &values).unwrap();
        let elements = [1, 3];
        let v_values: Vec<f32> = elements.iter().map(|&i| value(step, 100 + i)).collect();
        sparse.step_rows(1, &mut v_sparse, &elements, &v_values).unwrap();
        let mut v_grad = vec![0.0_f32; 5];
        for (&i, &g) in elements.iter().zip(&v_values) {
            v_grad[i] = g;
        }
        dense.step(&mut [&mut e_dense, &mut v_dense], &[Some(&grad), Some(&v_grad)]).unwrap();
        assert_eq!(e_sparse, e_dense, "step {step}");
        assert_eq!(v_sparse, v_dense, "step {step}");
    }
    assert_eq!(sparse, dense);
}

#[test]
fn repeated_rows_are_summed_and_listed_zero_rows_are_stepped() {
    let mut once = Optimizer::<SparseAdam, f64>::new(SparseAdam::default(), [Param::new([3, 2])]).unwrap();
    let mut twice = once.clone();
    let (mut a, mut b) = (vec![1.0; 6], vec![1.0; 6]);
    once.step_rows(0, &mut a, &[2, 0], &[0.75, -0.5, 0.0, 0.0]).unwrap();
    twice.step_rows(0, &mut b, &[0, 2, 2], &[0.0, 0.0, 0.5, -0.25, 0.25, -0.25]).unwrap();
    assert_eq!(a, b);
    assert_eq!(once, twice);
    // Row 0 was listed with zeros: its moments decay (still zero) and its values stay, row 1 was not listed.
    assert_eq!(&a[..4], &[1.0, 1.0, 1.0, 1.0]);
    assert!(a[4] < 1.0 && a[5] > 1.0);
    // A listed zero row after a nonzero one moves, by its momentum: PyTorch's coalesced explicit zeros.
    once.step_rows(0, &mut a, &[2], &[0.0, 0.0]).unwrap();
    assert!(a[4] < b[4]);
}

#[test]
fn bad_rows_change_nothing() {
    let mut opt = Optimizer::<SparseAdam, f32>::new(SparseAdam::default(), [Param::named("E", [3, 2])]).unwrap();
    let mut table = vec![0.5_f32; 6];
    let before = opt.clone();
    let err = opt.step_rows(0, &mut table, &[3], &[1.0, 1.0]).unwrap_err();
    assert_eq!(err, Error::RowOutOfRange { param: "\"E\"".into(), index: 3, rows: 3 });
    assert_eq!(err.to_string(), "parameter \"E\": row 3 of a sparse gradient is past its 3 rows");
    assert!(matches!(opt.step_rows(0, &mut table, &[0, 1], &[1.0, 1.0]), Err(Error::GradientLengthMismatch { .. })));
    assert!(matches!(opt.step_rows(0, &mut table[..4], &[0], &[1.0, 1.0]), Err(Error::ParameterLengthMismatch { .. })));
    assert!(matches!(opt.step_rows(1, &mut table, &[0], &[1.0, 1.0]), Err(Error::NoSuchParameter { .. })));
    assert_eq!(opt, before);
    assert_eq!(table, [0.5; 6]);
}
