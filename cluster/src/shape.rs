//! `--bootstrap`: whom each node is told about at start (`PROJECT_DAWN_BOOTSTRAP`). Gossip
//! does the rest (docs/p2p.md, *Discovery*): the shape only changes how the cluster starts,
//! and what a test of discovery starts from.

use std::fmt;

use rand::Rng;

/// How many earlier nodes a node knows with [`Shape::Random`].
pub(crate) const RANDOM_KNOWN: usize = 3;

/// The shape of the bootstrap lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Shape {
    /// Node `i` knows node `i-1` (what the cluster always did).
    #[default]
    Chain,
    /// Every node knows node-0 only: the first node takes every newcomer and hands it on.
    Star,
    /// Every node knows up to [`RANDOM_KNOWN`] earlier nodes, drawn at random.
    Random,
}

impl Shape {
    /// Every shape, with its name on the command line.
    pub(crate) const ALL: [(Shape, &'static str); 3] = [
        (Shape::Chain, "chain"),
        (Shape::Star, "star"),
        (Shape::Random, "random"),
    ];

    /// The shape named `text`, or what is accepted (for `--bootstrap`).
    pub(crate) fn parse(text: &str) -> Result<Shape, String> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == text.trim())
            .map(|(shape, _)| *shape)
            .ok_or_else(|| "expected chain, star or random".to_owned())
    }

    /// The nodes node `index` is told about: always earlier ones, so each node is started
    /// after those it dials.
    pub(crate) fn known(self, index: usize, rng: &mut impl Rng) -> Vec<usize> {
        match (self, index) {
            (_, 0) => Vec::new(),
            (Shape::Chain, i) => vec![i - 1],
            (Shape::Star, _) => vec![0],
            (Shape::Random, i) => {
                let mut known = rand::seq::index::sample(rng, i, RANDOM_KNOWN.min(i)).into_vec();
                known.sort_unstable();
                known
            }
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::ALL
            .iter()
            .find(|(shape, _)| shape == self)
            .map_or("?", |(_, name)| name);
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_by_name_and_print_it() {
        for (shape, name) in Shape::ALL {
            assert_eq!(Shape::parse(name), Ok(shape));
            assert_eq!(shape.to_string(), name);
        }
        assert_eq!(
            Shape::parse("ring"),
            Err("expected chain, star or random".to_owned())
        );
    }

    #[test]
    fn every_node_knows_earlier_nodes_only() {
        let mut rng = rand::rng();
        for shape in [Shape::Chain, Shape::Star, Shape::Random] {
            assert!(shape.known(0, &mut rng).is_empty(), "{shape}");
        }
        assert_eq!(Shape::Chain.known(5, &mut rng), [4]);
        assert_eq!(Shape::Star.known(5, &mut rng), [0]);
        assert_eq!(Shape::Random.known(1, &mut rng), [0]);
        assert_eq!(Shape::Random.known(2, &mut rng), [0, 1]);
        for i in 3..200 {
            let known = Shape::Random.known(i, &mut rng);
            assert_eq!(known.len(), RANDOM_KNOWN, "{known:?}");
            assert!(known.windows(2).all(|w| w[0] < w[1]), "{known:?}");
            assert!(known.iter().all(|&k| k < i), "{known:?}");
        }
    }
}
