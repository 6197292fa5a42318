//! Output for people: aligned tables, and colour only when stdout is a terminal. Every command
//! that lists things prints through [`Table`], so columns line up the same way everywhere and
//! `--json` is the one form for scripts.

use std::io::IsTerminal;

/// Rows of cells printed as aligned columns under a header. A cell's width is counted in
/// characters, so names with accents still line up.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles (printed in capitals, as `kubectl` and `nomad` do).
    pub fn new<I, S>(header: I) -> Table
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Table {
            header: header
                .into_iter()
                .map(|h| h.into().to_uppercase())
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra ones are kept (the last column is never
    /// padded, so a long message does not push the others).
    pub fn row<I, S>(&mut self, cells: I) -> &mut Table
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row after the header, each ending in a newline.
    pub fn render(&self) -> String {
        let columns = std::iter::once(&self.header)
            .chain(&self.rows)
            .map(Vec::len)
            .max()
            .unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Prints the table on stdout.
    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// A state word coloured for a terminal: green when all is well, yellow while something is on
/// its way, red when it failed; plain text when stdout is not a terminal (a pipe, a file, a
/// test), so scripts and logs never see escape codes.
pub fn state(word: &str) -> String {
    if !std::io::stdout().is_terminal() || std::env::var_os("NO_COLOR").is_some() {
        return word.to_string();
    }
    let upper = word.to_uppercase();
    let code = if ["FAILED", "ERROR", "LOST", "GONE", "DROPPED", "UNHEALTHY"]
        .iter()
        .any(|w| upper.contains(w))
    {
        "31"
    } else if ["COMPLETE", "RUNNING", "FINISHED", "HEALTHY", "READY"]
        .iter()
        .any(|w| upper.contains(w))
        && !upper.contains("NOT")
    {
        "32"
    } else {
        "33"
    };
    format!("\x1b[{code}m{word}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_under_their_titles_and_the_last_one_is_not_padded() {
        let mut t = Table::new(["pod", "state", "message"]);
        t.row(["data-0", "TASK_RUNNING", "ok"]);
        t.row(["data-10", "TASK_FAILED", "exit 1: boom"]);
        t.row(["é-1", "", ""]);
        assert_eq!(
            t.render(),
            "POD      STATE         MESSAGE\n\
             data-0   TASK_RUNNING  ok\n\
             data-10  TASK_FAILED   exit 1: boom\n\
             é-1\n"
        );
    }

    #[test]
    fn a_state_word_has_no_escape_codes_when_stdout_is_not_a_terminal() {
        // Tests run with stdout captured: a pipe, as a script would see it.
        assert_eq!(state("TASK_FAILED"), "TASK_FAILED");
    }
}
