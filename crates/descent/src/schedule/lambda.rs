//! LambdaLR: η₀ times a factor written as a formula in `epoch`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::base::invalid;
use super::{Clock, Formula, ScheduleEntry, View};
use crate::expression::Expression;
use crate::hyper::Hyperparameters;
use crate::Error;

/// A factor as a formula in `epoch` (`"0.95^epoch"`, `"1/(epoch + 1)"`; see [`Expression`] for the syntax), the
/// same for every group or one per group.
///
/// It stands for PyTorch's `lr_lambda` function. Powers, functions and arithmetic are evaluated in `f64` with the
/// C library's `pow`, `exp` and `cos`, as Python's `**` and `math` are, so `0.95^epoch` gives Python's
/// `0.95 ** epoch` bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub enum LrLambda {
    /// One formula for every group.
    All(Expression),
    /// One formula per group, in group order.
    Each(Vec<Expression>),
}

impl LrLambda {
    /// The formula `text` in `epoch`.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(LrLambda::All(Expression::parse(text, &["epoch"])?))
    }

    /// The factor of group `group` at `epoch`.
    pub(crate) fn factor(&self, group: usize, epoch: i64) -> f64 {
        let formula = match self {
            LrLambda::All(formula) => formula,
            LrLambda::Each(formulas) => &formulas[group],
        };
        formula.value(&[epoch as f64])
    }

    /// PyTorch's check that a list has one formula per group.
    pub(crate) fn check_groups(&self, scheduler: &'static str, groups: usize) -> Result<(), Error> {
        match self {
            LrLambda::Each(formulas) if formulas.len() != groups => {
                Err(invalid(scheduler, format!("expected {groups} lr_lambdas, but got {}", formulas.len())))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Text {
    All(String),
    Each(Vec<String>),
}

impl Serialize for LrLambda {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            LrLambda::All(formula) => Text::All(formula.text().to_owned()),
            LrLambda::Each(formulas) => Text::Each(formulas.iter().map(|f| f.text().to_owned()).collect()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LrLambda {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let parse = |text: &str| {
            Expression::parse(text, &["epoch"]).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
        };
        match Text::deserialize(deserializer)? {
            Text::All(text) => Ok(LrLambda::All(parse(&text)?)),
            Text::Each(texts) => Ok(LrLambda::Each(texts.iter().map(|t| parse(t)).collect::<Result<_, _>>()?)),
        }
    }
}

/// `torch.optim.lr_scheduler.LambdaLR`: η_e = η₀·λ(e), with λ a formula in `epoch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaLr {
    /// λ (required).
    pub lr_lambda: LrLambda,
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<LambdaLr>(&["lambda"], "η₀·λ(epoch), λ a formula in epoch");

impl Hyperparameters for LambdaLr {
    const CLASS: &'static str = "LambdaLR";

    fn check(&self) -> Result<(), Error> {
        Ok(())
    }
}

impl Formula for LambdaLr {
    type State = ();

    fn prepare(&self, groups: &mut [View]) -> Result<(), Error> {
        self.lr_lambda.check_groups(Self::CLASS, groups.len())
    }

    fn lrs(&self, _: &(), clock: &Clock, _groups: &mut [View]) -> Result<Vec<f64>, Error> {
        let e = clock.last_epoch;
        Ok(clock.base_lrs.iter().enumerate().map(|(g, base)| base * self.lr_lambda.factor(g, e)).collect())
    }
}
