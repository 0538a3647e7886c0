//! Several optimizers stepping one model together, each over its own parameter groups: Muon for the hidden weight
//! matrices and AdamW for the rest, say.

use std::any::TypeId;
use std::collections::HashSet;

use serde_json::Value;

use crate::kernel::{Clipped, GradMap};
use crate::{Clip, Closure, DynOptimizer, Error, Float, GroupRecord, Param, ParamState, Point, Spec, StateDict};

/// Parameter groups of different optimizers behind one [`DynOptimizer`]: what [`Spec::build_groups`] builds when its
/// groups name more than one optimizer.
///
/// Each optimizer (a part) steps its own groups with its own rule and state, exactly as it would alone. Groups and
/// positions count across all parts in the order the groups were given. Clipping is the composite's own: the total
/// norm is measured over every gradient, as PyTorch's `clip_grad_norm_` measures it over a model, and the clipped
/// gradients are handed to the parts (one extra pass over the gradients).
///
/// Optimizers that ask for their own gradients (look-ahead rules, L-BFGS) or keep state for all their parameters
/// together cannot share a step with others, and are refused.
///
/// Its [`StateDict`] names the parts' classes joined by `+` (`"Muon+AdamW"`), and each group its own class
/// ([`GroupRecord::optimizer`]).
#[derive(Debug)]
pub struct Composite<T: Float> {
    /// One optimizer per kind of rule.
    parts: Vec<Part<T>>,
    /// Each group's part and its group there.
    groups: Vec<(usize, usize)>,
    /// Each parameter's part and its position there.
    positions: Vec<(usize, usize)>,
    clip: Option<Clip>,
    last_grad_norm: Option<f64>,
}

/// A group as [`Spec::build_groups`] takes it.
type SpecGroup = (Spec, Vec<Param>);

/// One optimizer of a composite, with the kind of rule its groups have.
#[derive(Debug)]
struct Part<T: Float> {
    kind: TypeId,
    optimizer: Box<dyn DynOptimizer<T>>,
}

impl<T: Float> Composite<T> {
    /// One optimizer per kind of rule among `groups`, each over its groups, in the order given.
    pub(crate) fn new(groups: Vec<(Spec, Vec<Param>)>) -> Result<Self, Error> {
        let mut names = HashSet::new();
        for param in groups.iter().flat_map(|(_, params)| params) {
            if let Some(name) = param.name() {
                if !names.insert(name) {
                    return Err(Error::DuplicateParameterName(name.to_owned()));
                }
            }
        }
        // Each kind of rule with its groups, in the order the kinds first appear.
        let mut members: Vec<(TypeId, Vec<SpecGroup>)> = Vec::new();
        let mut composite = Composite {
            parts: Vec::new(),
            groups: Vec::new(),
            positions: Vec::new(),
            clip: None,
            last_grad_norm: None,
        };
        for (spec, params) in groups {
            if spec.needs_closure() || !spec.shared_state().is_empty() || spec.needs_all_gradients() {
                return Err(Error::InvalidCombination {
                    optimizer: spec.class(),
                    reason: "cannot share a step with other optimizers (it asks for its own gradients, or needs \
                             every gradient at once)",
                });
            }
            let kind = spec.kind();
            let part = members.iter().position(|(k, _)| *k == kind).unwrap_or_else(|| {
                members.push((kind, Vec::new()));
                members.len() - 1
            });
            let groups = &mut members[part].1;
            let local_start: usize = groups.iter().map(|(_, p)| p.len()).sum();
            composite.groups.push((part, groups.len()));
            composite.positions.extend((0..params.len()).map(|i| (part, local_start + i)));
            groups.push((spec, params));
        }
        for (kind, groups) in members {
            composite.parts.push(Part { kind, optimizer: Spec::build_groups(groups)? });
        }
        Ok(composite)
    }

    /// Each part's slice of `items` (given in global position order), in the part's position order.
    fn split<X>(&self, items: impl IntoIterator<Item = X>) -> Vec<Vec<X>> {
        let mut split: Vec<Vec<(usize, X)>> = self.parts.iter().map(|_| Vec::new()).collect();
        for (&(part, local), item) in self.positions.iter().zip(items) {
            split[part].push((local, item));
        }
        split
            .into_iter()
            .map(|mut items| {
                items.sort_by_key(|(local, _)| *local);
                items.into_iter().map(|(_, item)| item).collect()
            })
            .collect()
    }

    /// The global group of a part's group.
    fn global_group(&self, part: usize, local: usize) -> Option<usize> {
        self.groups.iter().position(|&g| g == (part, local))
    }

    fn part_group(&self, group: usize) -> Result<(usize, usize), Error> {
        self.groups.get(group).copied().ok_or(Error::NoSuchGroup { index: group, count: self.groups.len() })
    }

    /// Checks counts and lengths before any part changes anything.
    fn check(&self, params: &[&mut [T]], grads: Option<&[Option<&[T]>]>) -> Result<(), Error> {
        let expected = self.positions.len();
        let counts = [("parameters", Some(params.len())), ("gradients", grads.map(<[_]>::len))];
        for (what, got) in counts {
            if let Some(got) = got.filter(|&got| got != expected) {
                return Err(Error::CountMismatch { what, expected, got });
            }
        }
        for (position, param) in params.iter().enumerate() {
            let registered = self.param(position).expect("counted");
            let label = || registered.label(position);
            if param.len() != registered.len() {
                return Err(Error::ParameterLengthMismatch {
                    param: label(),
                    expected: registered.len(),
                    got: param.len(),
                });
            }
            if let Some(Some(grad)) = grads.map(|g| g[position]) {
                if grad.len() != registered.len() {
                    return Err(Error::GradientLengthMismatch {
                        param: label(),
                        expected: registered.len(),
                        got: grad.len(),
                    });
                }
            }
        }
        Ok(())
    }
}

impl<T: Float> DynOptimizer<T> for Composite<T> {
    fn name(&self) -> String {
        self.parts.iter().map(|part| part.optimizer.name()).collect::<Vec<_>>().join("+")
    }

    fn step(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<(), Error> {
        self.check(params, Some(grads))?;
        let clipped: Option<Vec<Option<Vec<T>>>> = match &self.clip {
            None => None,
            Some(clip) => {
                let (scale, norm) = clip.scale(grads.iter().flatten().copied())?;
                self.last_grad_norm = norm;
                let map = Clipped { scale: scale.map(T::from_f64), bound: clip.value.map(T::from_f64) };
                Some(grads.iter().map(|g| g.map(|g| g.iter().map(|&v| map.map(v)).collect())).collect())
            }
        };
        let grads: Vec<Option<&[T]>> = match &clipped {
            Some(clipped) => clipped.iter().map(Option::as_deref).collect(),
            None => grads.to_vec(),
        };
        let params = self.split(params.iter_mut().map(|p| &mut **p));
        let grads = self.split(grads);
        for ((part, mut params), grads) in self.parts.iter_mut().zip(params).zip(grads) {
            part.optimizer.step(&mut params, &grads)?;
        }
        Ok(())
    }

    fn step_with_closure(&mut self, params: &mut [&mut [T]], closure: &mut Closure<'_, T>) -> Result<f64, Error> {
        self.check(params, None)?;
        let mut grads: Vec<Vec<T>> = params.iter().map(|p| vec![T::default(); p.len()]).collect();
        let loss = {
            let points: Vec<&[T]> = params.iter().map(|p| &**p).collect();
            let mut slices: Vec<&mut [T]> = grads.iter_mut().map(Vec::as_mut_slice).collect();
            closure(&points, &mut slices)
        };
        let grads: Vec<Option<&[T]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
        self.step(params, &grads).map(|()| loss)
    }

    fn step_param(&mut self, position: usize, param: &mut [T], grad: &[T]) -> Result<(), Error> {
        let count = self.positions.len();
        let &(part, local) = self.positions.get(position).ok_or(Error::NoSuchParameter { position, count })?;
        self.parts[part].optimizer.step_param(local, param, grad)
    }

    fn needs_all_gradients(&self) -> bool {
        self.parts.iter().any(|part| part.optimizer.needs_all_gradients())
    }

    fn has_evaluation_point(&self) -> bool {
        self.parts.iter().any(|part| part.optimizer.has_evaluation_point())
    }

    fn move_point(&self, position: usize, param: &mut [T], to: Point) -> Result<(), Error> {
        let count = self.positions.len();
        let &(part, local) = self.positions.get(position).ok_or(Error::NoSuchParameter { position, count })?;
        self.parts[part].optimizer.move_point(local, param, to)
    }

    fn group_count(&self) -> usize {
        self.groups.len()
    }

    fn add_group(&mut self, spec: &Spec, params: Vec<Param>) -> Result<(), Error> {
        let names: HashSet<&str> = (0..self.param_count()).filter_map(|p| self.param(p)?.name()).collect();
        if let Some(name) = params.iter().filter_map(Param::name).find(|name| names.contains(name)) {
            return Err(Error::DuplicateParameterName(name.to_owned()));
        }
        let count = params.len();
        let part = match self.parts.iter().position(|part| part.kind == spec.kind()) {
            Some(part) => {
                self.parts[part].optimizer.add_group(spec, params)?;
                part
            }
            None => {
                let built = Composite::new(vec![(spec.clone(), params)])?;
                self.parts.extend(built.parts);
                self.parts.len() - 1
            }
        };
        let local_group = self.parts[part].optimizer.group_count() - 1;
        let local_start = self.parts[part].optimizer.param_count() - count;
        self.groups.push((part, local_group));
        self.positions.extend((0..count).map(|i| (part, local_start + i)));
        Ok(())
    }

    fn remove_group(&mut self, group: usize) -> Result<Vec<Param>, Error> {
        let (part, local_group) = self.part_group(group)?;
        if self.groups.len() == 1 {
            return Err(Error::EmptyParameterList);
        }
        let members: Vec<usize> = (0..self.positions.len())
            .filter(|&p| self.group_of(p) == Some(group))
            .map(|p| self.positions[p].1)
            .collect();
        let whole_part = self.parts[part].optimizer.group_count() == 1;
        let removed = if whole_part {
            let whole = self.parts.remove(part).optimizer;
            (0..whole.param_count()).filter_map(|p| whole.param(p).cloned()).collect()
        } else {
            self.parts[part].optimizer.remove_group(local_group)?
        };
        self.groups.remove(group);
        self.positions.retain(|&(p, local)| p != part || !members.contains(&local));
        if whole_part {
            for (p, _) in self.groups.iter_mut().chain(self.positions.iter_mut()) {
                if *p > part {
                    *p -= 1;
                }
            }
        } else {
            for (p, local) in self.groups.iter_mut() {
                if *p == part && *local > local_group {
                    *local -= 1;
                }
            }
            for (p, local) in self.positions.iter_mut() {
                if *p == part {
                    *local -= members.iter().filter(|&&m| m < *local).count();
                }
            }
        }
        Ok(removed)
    }

    fn hyperparameter(&self, group: usize, name: &str) -> Result<Value, Error> {
        let (part, local) = self.part_group(group)?;
        self.parts[part].optimizer.hyperparameter(local, name)
    }

    fn set_hyperparameter(&mut self, group: usize, name: &str, value: Value) -> Result<(), Error> {
        let (part, local) = self.part_group(group)?;
        self.parts[part].optimizer.set_hyperparameter(local, name, value)
    }

    fn hyperparameters(&self, group: usize) -> Result<Value, Error> {
        let (part, local) = self.part_group(group)?;
        self.parts[part].optimizer.hyperparameters(local)
    }

    fn lr(&self, group: usize) -> Result<f64, Error> {
        let (part, local) = self.part_group(group)?;
        self.parts[part].optimizer.lr(local)
    }

    fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        let (part, local) = self.part_group(group)?;
        self.parts[part].optimizer.set_lr(local, lr)
    }

    fn set_clip(&mut self, clip: Option<Clip>) -> Result<(), Error> {
        if let Some(clip) = &clip {
            clip.validate()?;
        }
        self.clip = clip;
        Ok(())
    }

    fn clip(&self) -> Option<Clip> {
        self.clip
    }

    fn last_grad_norm(&self) -> Option<f64> {
        self.last_grad_norm
    }

    fn param_count(&self) -> usize {
        self.positions.len()
    }

    fn param(&self, position: usize) -> Option<&Param> {
        let &(part, local) = self.positions.get(position)?;
        self.parts[part].optimizer.param(local)
    }

    fn group_of(&self, position: usize) -> Option<usize> {
        let &(part, local) = self.positions.get(position)?;
        self.global_group(part, self.parts[part].optimizer.group_of(local)?)
    }

    fn state(&self, position: usize) -> Option<&ParamState<T>> {
        let &(part, local) = self.positions.get(position)?;
        self.parts[part].optimizer.state(local)
    }

    fn global_state(&self) -> Option<&ParamState<T>> {
        None
    }

    fn state_dict(&self) -> StateDict<T> {
        let dicts: Vec<StateDict<T>> = self.parts.iter().map(|part| part.optimizer.state_dict()).collect();
        let global_position = |part: usize, local: usize| {
            self.positions.iter().position(|&p| p == (part, local)).expect("every part's parameter has a position")
        };
        let groups = self
            .groups
            .iter()
            .map(|&(part, local)| {
                let record = &dicts[part].groups[local];
                GroupRecord {
                    optimizer: Some(dicts[part].optimizer.clone()),
                    hyperparameters: record.hyperparameters.clone(),
                    params: record.params.iter().map(|&l| global_position(part, l)).collect(),
                }
            })
            .collect();
        let params = self.positions.iter().map(|&(part, local)| dicts[part].params[local].clone()).collect();
        StateDict { optimizer: self.name(), groups, params, global: None }
    }

    fn load_state_dict(&mut self, dict: &StateDict<T>) -> Result<(), Error> {
        let mismatch = |message: String| Err(Error::StateMismatch(message));
        if dict.optimizer != self.name() {
            return mismatch(format!("the state is of a {} optimizer, not {}", dict.optimizer, self.name()));
        }
        if dict.groups.len() != self.groups.len() || dict.params.len() != self.positions.len() {
            return mismatch(format!(
                "the state has {} groups and {} parameters, the optimizer {} and {}",
                dict.groups.len(),
                dict.params.len(),
                self.groups.len(),
                self.positions.len()
            ));
        }
        if dict.global.is_some() {
            return mismatch("the state has optimizer-wide state, which a composite keeps none of".into());
        }
        let mut parts: Vec<StateDict<T>> = self
            .parts
            .iter()
            .map(|part| StateDict {
                optimizer: part.optimizer.name(),
                groups: Vec::new(),
                params: Vec::new(),
                global: None,
            })
            .collect();
        for (g, (record, &(part, _))) in dict.groups.iter().zip(&self.groups).enumerate() {
            if record.optimizer.as_deref() != Some(parts[part].optimizer.as_str()) {
                return mismatch(format!(
                    "group {g} is of {} in the state, {} here",
                    record.optimizer.as_deref().unwrap_or("no optimizer"),
                    parts[part].optimizer
                ));
            }
            let mut params = Vec::with_capacity(record.params.len());
            for &position in &record.params {
                match self.positions.get(position) {
                    Some(&(p, local)) if p == part => params.push(local),
                    _ => {
                        return mismatch(format!("group {g} holds parameter {position}, which is not its optimizer's"))
                    }
                }
            }
            parts[part].groups.push(GroupRecord {
                optimizer: None,
                hyperparameters: record.hyperparameters.clone(),
                params,
            });
        }
        let records = self.split(dict.params.iter().cloned());
        for (part, records) in parts.iter_mut().zip(records) {
            part.params = records;
        }
        let before: Vec<StateDict<T>> = self.parts.iter().map(|part| part.optimizer.state_dict()).collect();
        for (k, dict) in parts.iter().enumerate() {
            if let Err(error) = self.parts[k].optimizer.load_state_dict(dict) {
                for (part, state) in self.parts.iter_mut().zip(&before).take(k) {
                    part.optimizer.load_state_dict(state).expect("a state the part gave loads back");
                }
                return Err(error);
            }
        }
        Ok(())
    }
}
