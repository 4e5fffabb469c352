# md2man.awk - a tool's page in docs/ (TOOL.md, headed "# TOOL(1)") as a
# man page: the pages are written once, in Markdown, and read both on the
# web and with man(1).  It knows what those pages use and nothing more:
# "## SECTION" headings, paragraphs, "- " bullets (with continuation
# lines), ``` blocks, `code` and **bold**.
#
# Usage: awk -v version=0.1.0 -f md2man.awk docs/cmtreplay.md > cmtreplay.1

# Text for roff: backslashes and leading dots or quotes made harmless,
# `code` and **bold** in bold.
function inline(s,    out, n, parts, i) {
    gsub(/\\/, "\\e", s)
    gsub(/\*\*/, "`", s)
    n = split(s, parts, "`")
    out = parts[1]
    for (i = 2; i <= n; i++)
        out = out (i % 2 ? "\\fR" : "\\fB") parts[i]
    if (n % 2 == 0)
        out = out "\\fR"
    sub(/^[.']/, "\\\\\\&&", out)
    return out
}

NR == 1 {
    if (!match($0, /^# [a-z0-9]+\([0-9]\)$/)) {
        print FILENAME ": line 1 is not \"# NAME(SECTION)\"" > "/dev/stderr"
        exit 1
    }
    name = substr($0, 3)
    section = name
    sub(/^.*\(/, "", section)
    sub(/\)$/, "", section)
    sub(/\(.*$/, "", name)
    printf ".TH %s %s \"\" \"cmt %s\" \"cmt\"\n", toupper(name), section, version
    next
}
/^```/ {
    if (!code)
        print ".PP\n.nf"
    else
        print ".fi"
    code = !code
    next
}
code {
    gsub(/\\/, "\\e")
    sub(/^[.']/, "\\\\\\&&")
    print
    next
}
/^## / { print ".SH " toupper(substr($0, 4)); bullet = 0; next }
/^### / { print ".SS " substr($0, 5); bullet = 0; next }
/^$/ { bullet = 0; paragraph = 1; next }
/^- / {
    print ".IP \\(bu 2"
    print inline(substr($0, 3))
    bullet = 1
    paragraph = 0
    next
}
{
    line = $0
    if (bullet)
        sub(/^ +/, "", line)
    else if (paragraph)
        print ".PP"
    paragraph = 0
    print inline(line)
}
