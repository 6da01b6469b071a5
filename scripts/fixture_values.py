# Shared by the fixture generators: one float as a JSON value (nan/inf/-inf as strings, which
# test/helpers.ts decodes), so every generator writes special values the same way.
import math


def enc(v, short_int=False, neg_zero=False):
    """short_int: whole numbers as JSON ints (smaller files); neg_zero: -0.0 as the string "-0"."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if neg_zero and v == 0 and math.copysign(1, v) < 0:
        return "-0"
    if short_int and v == int(v) and abs(v) < 2**53 and math.copysign(1, v) > 0:
        return int(v)
    return v
