/* A C testbench for the decode vector files (conformance/vectors/decode/<format>.txt):
 * a reference decoder written from SPEC.md section 1 alone, checked against every row.
 * Reading the files needs only fgets and sscanf: skip '#' lines, read "code value"
 * as two hex words, ignore the comment after them.
 *
 *   cc -O2 -std=c99 -o decode_check decode_check.c -lm
 *   ./decode_check ../vectors/decode/fp8_e4m3.txt      (exit 0: every row equal)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { FLOAT_FN, FLOAT_IEEE, FLOAT_NONE, INT, SCALE };

struct fmt { const char *name; int bits, ebits, mbits, bias; enum kind kind; };

static const struct fmt FORMATS[] = {
    {"fp8_e4m3", 8, 4, 3, 7, FLOAT_FN},    /* S.1111.111 is NaN, no Inf */
    {"fp8_e5m2", 8, 5, 2, 15, FLOAT_IEEE}, /* IEEE Inf and NaN */
    {"fp6_e3m2", 6, 3, 2, 3, FLOAT_NONE},  /* no specials */
    {"fp6_e2m3", 6, 2, 3, 1, FLOAT_NONE},
    {"fp4_e2m1", 4, 2, 1, 1, FLOAT_NONE},
    {"int8", 8, 0, 0, 0, INT},             /* two's complement q x 2^-(bits-2) */
    {"int4", 4, 0, 0, 0, INT},
    {"e8m0", 8, 8, 0, 127, SCALE},         /* 2^(c-127), no sign, 0xFF NaN */
    {"e6m2", 8, 6, 2, 48, SCALE},          /* (1 + m/4) 2^(e-48), no sign, 0xFF NaN */
};

static uint32_t f32_bits(double v) {
    float f = (float)v; /* exact: every value of these formats is a float32 */
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static uint32_t decode(const struct fmt *f, unsigned code) {
    const uint32_t qnan = 0x7FC00000u;
    if (f->kind == INT) {
        int q = (int)code;
        if (q >= 1 << (f->bits - 1)) q -= 1 << f->bits;
        return f32_bits(ldexp((double)q, -(f->bits - 2)));
    }
    if (f->kind == SCALE) {
        if (code == 0xFFu) return qnan;
        unsigned e = code >> f->mbits, m = code & ((1u << f->mbits) - 1);
        return f32_bits(ldexp(1.0 + ldexp((double)m, -f->mbits), (int)e - f->bias));
    }
    unsigned s = code >> (f->bits - 1);
    unsigned e = (code >> f->mbits) & ((1u << f->ebits) - 1);
    unsigned m = code & ((1u << f->mbits) - 1);
    unsigned emax_field = (1u << f->ebits) - 1, mmax = (1u << f->mbits) - 1;
    uint32_t sign = (uint32_t)s << 31;
    if (f->kind == FLOAT_FN && e == emax_field && m == mmax) return sign | qnan;
    if (f->kind == FLOAT_IEEE && e == emax_field) return m ? (sign | qnan) : (sign | 0x7F800000u);
    double v = e ? ldexp(1.0 + ldexp((double)m, -f->mbits), (int)e - f->bias)
                 : ldexp((double)m, 1 - f->bias - f->mbits);
    return sign | (f32_bits(v) & 0x7FFFFFFFu);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s decode/<format>.txt\n", argv[0]);
        return 2;
    }
    FILE *fp = fopen(argv[1], "r");
    if (!fp) { perror(argv[1]); return 2; }
    char line[1024], name[64] = "";
    const struct fmt *f = NULL;
    long lineno = 0, rows = 0, bad = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        if (line[0] == '#') {
            if (sscanf(line, "# format: %63s", name) == 1)
                for (size_t i = 0; i < sizeof FORMATS / sizeof *FORMATS; i++)
                    if (!strcmp(FORMATS[i].name, name)) f = &FORMATS[i];
            continue;
        }
        unsigned code, value;
        if (sscanf(line, "%x %x", &code, &value) != 2) {
            fprintf(stderr, "%s:%ld: not a decode row\n", argv[1], lineno);
            return 2;
        }
        if (!f) { fprintf(stderr, "%s: format '%s' is not one this reader knows\n", argv[1], name); return 2; }
        uint32_t want = decode(f, code);
        rows++;
        if (want != value) {
            bad++;
            printf("%s:%ld: code %02x: file %08x, reference %08x\n", argv[1], lineno, code, value, want);
        }
    }
    fclose(fp);
    printf("%s: %s, %ld rows, %ld passed, %ld failed\n", argv[1], name, rows, rows - bad, bad);
    return bad != 0 || rows == 0;
}
