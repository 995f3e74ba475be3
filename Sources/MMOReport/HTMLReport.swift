// A report page as one self-contained HTML file: the structure through Plot, the charts as inline
// SVG, the style inline; no script, no font, image or style sheet from anywhere else, so the file
// opens from disk as it is.
import Foundation
import Plot

/// Renders a `ReportPage`.
public enum HTMLReport {
    static let css = """
        :root { color-scheme: light; }
        body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; font-size: 15px; color: #222;
          background: #fafafa; margin: 0; }
        main { max-width: 1240px; margin: 0 auto; padding: 18px 20px 40px; }
        h1 { font-size: 24px; margin: 8px 0 4px; }
        h2 { font-size: 19px; margin: 28px 0 10px; padding-top: 10px; border-top: 1px solid #ddd; }
        p.sub { margin: 2px 0; color: #555; font-size: 13px; overflow-wrap: anywhere; }
        p { max-width: 1000px; line-height: 1.45; }
        table { border-collapse: collapse; margin: 10px 0 4px; background: #fff; font-size: 14px; }
        th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; }
        th { background: #f0f0f0; font-weight: 600; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        table caption { caption-side: bottom; text-align: left; color: #555; font-size: 13px; padding-top: 4px; max-width: 1000px; }
        .kv { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 2px 18px; margin: 14px 0;
          background: #fff; border: 1px solid #ddd; padding: 8px 12px; font-size: 14px; }
        .kv div { display: flex; justify-content: space-between; gap: 10px; border-bottom: 1px dotted #e4e4e4; padding: 2px 0; }
        .kv span.k { color: #555; }
        figure { margin: 12px 0 18px; }
        .charts { display: flex; flex-wrap: wrap; gap: 14px; }
        svg.chart { background: #fff; border: 1px solid #ddd; max-width: 100%; height: auto; }
        figcaption { color: #444; font-size: 13px; margin-top: 6px; max-width: 1000px; line-height: 1.4; }
        """

    /// The whole file.
    public static func render(_ page: ReportPage) -> String {
        let html = HTML(
            .lang(.english),
            .head(
                .encoding(.utf8),
                .meta(.name("viewport"), .content("width=device-width, initial-scale=1")),
                .element(named: "title", text: page.title),
                .style(css)
            ),
            .body(
                .element(
                    named: "main",
                    nodes: [
                        .h1(.text(page.title)),
                        .group(page.subtitle.map { line in .p(.class("sub"), .text(line)) }),
                        .group(page.sections.map(section)),
                    ])
            )
        )
        return html.render(indentedBy: nil) + "\n"
    }

    static func section(_ s: ReportSection) -> Node<HTML.BodyContext> {
        .section(.id(s.id), .h2(.text(s.title)), .group(s.blocks.map(block)))
    }

    static func block(_ b: ReportBlock) -> Node<HTML.BodyContext> {
        switch b {
        case .paragraph(let text):
            return .p(.text(text))
        case .table(let t):
            return table(t)
        case .keyValues(let id, let pairs):
            return .div(
                .id(id), .class("kv"),
                .group(pairs.map { k, v in .div(.span(.class("k"), .text(k)), .span(.class("v"), .text(v))) }))
        case .figure(let id, let charts, let caption):
            return .element(
                named: "figure",
                nodes: [
                    .id(id),
                    .div(.class("charts"), .group(charts.map { .raw($0.svg) })),
                    .element(named: "figcaption", nodes: [.text(caption)]),
                ])
        }
    }

    static func table(_ t: ReportTable) -> Node<HTML.BodyContext> {
        var nodes: [Node<HTML.TableContext>] = [.id(t.id)]
        if let caption = t.caption { nodes.append(.caption(.text(caption))) }
        nodes.append(.thead(.tr(.group(t.header.map { .th(.text($0)) }))))
        nodes.append(
            .tbody(
                .group(
                    t.rows.map { row in
                        .tr(.group(row.enumerated().map { i, cell in t.numericColumns.contains(i) ? .td(.class("num"), .text(cell)) : .td(.text(cell)) }))
                    })))
        return .table(.group(nodes))
    }
}
