// The quick C renderer: the same kernels as plain C99 that a fast, simple compiler (tcc) accepts,
// for the CPU device's first build of a kernel while gcc -O3 builds the real one in the background
// (runtime/cpu_quick.ts). No GCC vector types, intrinsics, OpenMP or attributes; the builtins the
// C renderer's literals use are defined from libm and bit patterns.
import type { LinearProgram } from './target.js'
import type { UOp } from '../uop/ops.js'
import { CRenderer } from './c.js'
import { SCALAR_EXP, SCALAR_HELPERS } from './c_prelude.js'
import type { LoopToRender } from './cstyle.js'

const QUICK_PRELUDE = `#include <math.h>
#include <string.h>
static const union { unsigned int u; float f; } tg_nanf_ = { 0x7fc00000u };
static const union { unsigned long long u; double f; } tg_nan_ = { 0x7ff8000000000000ull };
static const union { unsigned int u; float f; } tg_inff_ = { 0x7f800000u };
static const union { unsigned long long u; double f; } tg_inf_ = { 0x7ff0000000000000ull };
#define __builtin_nanf(s) (tg_nanf_.f)
#define __builtin_nan(s) (tg_nan_.f)
#define __builtin_inff() (tg_inff_.f)
#define __builtin_inf() (tg_inf_.f)
#define __builtin_fmaf fmaf
${SCALAR_HELPERS}${SCALAR_EXP}`

export class QuickCRenderer extends CRenderer {
  protected override prelude(_code: string): string {
    return QUICK_PRELUDE
  }

  protected override signature(name: string, params: string[], _prog: LinearProgram): string {
    return `void ${name}(${params.join(', ')})`
  }

  protected override renderLoop(_loop: LoopToRender): boolean {
    return false
  }

  protected override laneAccs(_prog: LinearProgram): ReadonlyMap<UOp, number> {
    return new Map()
  }

  protected override loopPrefix(): string[] {
    return []
  }
}
