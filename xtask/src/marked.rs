//! A section of a Markdown report written by one command and kept when
//! another command rewrites the rest of the file: it runs from a begin
//! marker line to an end marker line (HTML comments, invisible once
//! rendered).

/// A section's markers.
#[derive(Debug, Clone, Copy)]
pub struct Marked {
    /// The line that starts the section.
    pub begin: &'static str,
    /// The line that ends it.
    pub end: &'static str,
}

impl Marked {
    /// `document` with this section replaced by `section` (added at the
    /// end when it has none).
    pub fn splice(&self, document: &str, section: &str) -> String {
        let section = section.trim_end();
        match self.bounds(document) {
            Some((start, end)) => format!("{}{section}{}", &document[..start], &document[end..]),
            None if document.trim().is_empty() => format!("{section}\n"),
            None => format!("{}\n\n{section}\n", document.trim_end()),
        }
    }

    /// This section of `document`, markers included, if any: what a
    /// rewrite of the rest must keep.
    pub fn existing<'d>(&self, document: &'d str) -> Option<&'d str> {
        self.bounds(document)
            .map(|(start, end)| &document[start..end])
    }

    /// `new` (a whole rewrite of a document) with this section of `old`
    /// carried over, when `old` had one.
    pub fn keep(&self, old: &str, new: String) -> String {
        match self.existing(old) {
            Some(section) => self.splice(&new, section),
            None => new,
        }
    }

    fn bounds(&self, document: &str) -> Option<(usize, usize)> {
        let start = document.find(self.begin)?;
        let end = start + document[start..].find(self.end)? + self.end.len();
        Some((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::Marked;

    const SECTION: Marked = Marked {
        begin: "<!-- s -->",
        end: "<!-- end of s -->",
    };

    #[test]
    fn a_section_replaces_its_old_self_and_nothing_else() {
        let first = "<!-- s -->\none\n<!-- end of s -->\n";
        let once = SECTION.splice("# Doc\n\nthe rest\n", first);
        assert_eq!(once, format!("# Doc\n\nthe rest\n\n{first}"));
        assert_eq!(SECTION.existing(&once), Some(first.trim_end()));
        let twice = SECTION.splice(
            &format!("{once}\n## After\n"),
            "<!-- s -->\ntwo\n<!-- end of s -->",
        );
        assert!(twice.contains("two") && !twice.contains("one"), "{twice}");
        assert!(twice.starts_with("# Doc\n\nthe rest\n") && twice.ends_with("\n## After\n"));
        assert_eq!(SECTION.splice("", first), first);
    }

    #[test]
    fn a_rewrite_keeps_the_section() {
        let old = "# Old\n\n<!-- s -->\nkept\n<!-- end of s -->\n";
        let new = SECTION.keep(old, "# New\n".to_string());
        assert_eq!(new, "# New\n\n<!-- s -->\nkept\n<!-- end of s -->\n");
        assert_eq!(SECTION.keep("# Old\n", "# New\n".to_string()), "# New\n");
    }
}
