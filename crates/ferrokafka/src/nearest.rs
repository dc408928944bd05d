//! The known key nearest to a misspelt one, by edit distance, so an
//! unknown-key error can say what was probably meant.

/// The candidate with the fewest single-character edits (insert, delete,
/// substitute) from `key`; the first such in `candidates` on a tie.
pub(crate) fn nearest<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .min_by_key(|candidate| edit_distance(key, candidate))
}

/// Levenshtein distance over chars; one row of the table at a time so a
/// long key costs no more than two rows of memory.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_count_single_edits() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("linger_ms", "linger_ms"), 0);
        assert_eq!(edit_distance("lingr_ms", "linger_ms"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "acks"), 4);
    }

    #[test]
    fn the_nearest_candidate_wins() {
        let keys = ["bootstrap_servers", "batch_size", "linger_ms"];
        assert_eq!(nearest("bootstrap_server", keys), Some("bootstrap_servers"));
        assert_eq!(nearest("batchsize", keys), Some("batch_size"));
        assert_eq!(nearest("x", std::iter::empty()), None);
    }
}
