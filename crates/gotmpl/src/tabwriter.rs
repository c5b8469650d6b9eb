//! Column alignment with Go `text/tabwriter` semantics, as docker configures it:
//! `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
//!
//! Model: every `\t` (or `\v`) terminates a cell; the text after the last
//! terminator of a line is not part of any column. A column block is a run of
//! consecutive lines that all have a cell in that column; the column's width in
//! that block is `max(minwidth, max cell width + padding)`, widths counted in
//! characters. `\f` ends the line and also ends all column blocks.

/// Minimal cell width, including padding.
const MIN_WIDTH: usize = 10;
/// Padding added to the widest cell of a column block.
const PADDING: usize = 3;

struct Cell<'s> {
    text: &'s str,
    width: usize,
}

/// Aligns tab-separated columns like docker's table output (Go's
/// `text/tabwriter` with minwidth 10, tabwidth 1, padding 3, padchar ' ', no flags).
pub fn align_columns(text: &str) -> String {
    // Lines of cells; the last cell of each line is the trailing, non-column text.
    let mut lines: Vec<Vec<Cell<'_>>> = vec![Vec::new()];
    // For every line, whether a `\f` ends it (column blocks do not continue past it).
    let mut breaks: Vec<bool> = Vec::new();
    let mut cell_start = 0;
    for (i, c) in text.char_indices() {
        if !matches!(c, '\t' | '\u{b}' | '\n' | '\u{c}') {
            continue;
        }
        let cell = &text[cell_start..i];
        cell_start = i + 1;
        if let Some(line) = lines.last_mut() {
            line.push(Cell {
                text: cell,
                width: cell.chars().count(),
            });
        }
        if c == '\n' || c == '\u{c}' {
            breaks.push(c == '\u{c}');
            lines.push(Vec::new());
        }
    }
    let rest = &text[cell_start..];
    if !rest.is_empty() {
        if let Some(line) = lines.last_mut() {
            line.push(Cell {
                text: rest,
                width: rest.chars().count(),
            });
        }
    }

    // Assign each column cell to a block and compute block widths in one pass:
    // `active[c]` is the block currently open for column `c`.
    let mut block_widths: Vec<usize> = Vec::new();
    let mut active: Vec<usize> = Vec::new();
    let mut cell_blocks: Vec<Vec<usize>> = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        let columns = line.len().saturating_sub(1);
        active.truncate(columns);
        let mut blocks = Vec::with_capacity(columns);
        for (c, cell) in line.iter().take(columns).enumerate() {
            if c == active.len() {
                block_widths.push(MIN_WIDTH);
                active.push(block_widths.len() - 1);
            }
            let block = active[c];
            block_widths[block] = block_widths[block].max(cell.width + PADDING);
            blocks.push(block);
        }
        cell_blocks.push(blocks);
        if breaks.get(n).copied().unwrap_or(false) {
            active.clear();
        }
    }

    let mut out = String::with_capacity(text.len() * 2);
    for (n, line) in lines.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let blocks = &cell_blocks[n];
        for (c, cell) in line.iter().enumerate() {
            out.push_str(cell.text);
            if let Some(&block) = blocks.get(c) {
                for _ in cell.width..block_widths[block] {
                    out.push(' ');
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_images_table() {
        let text = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\nbusybox\tlatest\tabc\t2 days ago\t1.2MB\n";
        assert_eq!(
            align_columns(text),
            "REPOSITORY   TAG       IMAGE ID   CREATED      SIZE\n\
             busybox      latest    abc        2 days ago   1.2MB\n"
        );
    }

    #[test]
    fn lines_without_tabs_pass_through_and_split_blocks() {
        let text = "a\tb\nplain line\nlonger cell\tc\n";
        assert_eq!(align_columns(text), "a         b\nplain line\nlonger cell   c\n");
    }

    #[test]
    fn no_trailing_newline_and_empty_input() {
        assert_eq!(align_columns(""), "");
        assert_eq!(align_columns("x\ty"), "x         y");
        assert_eq!(align_columns("no tabs\n"), "no tabs\n");
        assert_eq!(align_columns("\n\n"), "\n\n");
    }

    #[test]
    fn empty_cells_and_ragged_columns() {
        // Column 1 exists only on the first two lines; its block ends at line 3.
        let text = "a\tbb\tc\n\t\td\ne\tf\n";
        assert_eq!(
            align_columns(text),
            "a         bb        c\n                    d\ne         f\n"
        );
        // A trailing tab makes the last text a column cell (padded).
        assert_eq!(align_columns("ab\t\n"), "ab        \n");
    }

    #[test]
    fn nested_blocks() {
        // Column 0 spans all three lines; column 1 spans lines 1-2 only (line 3 has one column).
        let text = "x\tyyyyyyyyyyyy\tz\nxx\ty\tz\nxxxxxxxxxxxxx\tw\n";
        assert_eq!(
            align_columns(text),
            "x               yyyyyyyyyyyy   z\n\
             xx              y              z\n\
             xxxxxxxxxxxxx   w\n"
        );
    }

    #[test]
    fn unicode_widths_and_form_feed() {
        assert_eq!(align_columns("héllo\tx\nab\ty\n"), "héllo     x\nab        y\n");
        // `\f` breaks the block and is written as a newline.
        assert_eq!(
            align_columns("aaaaaaaaaaaa\tb\u{c}c\td\n"),
            "aaaaaaaaaaaa   b\nc         d\n"
        );
        // `\v` terminates a cell like a tab.
        assert_eq!(align_columns("a\u{b}b\n"), "a         b\n");
    }
}
