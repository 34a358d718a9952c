"""Formatting shared by the benchmarks: durations, byte counts, tables."""


def fmt_s(seconds):
    if seconds != seconds:
        return "-"
    return "%.1f ms" % (seconds * 1e3) if seconds < 1 else "%.2f s" % seconds


def fmt_bytes(count):
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (count, unit)
        count /= 1000.0


def print_table(title, header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print("\n" + title)
    print(line)
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print(line)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    print(line, flush=True)
