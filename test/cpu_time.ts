// Process CPU time of a call, for guards against super-linear work in tests: other processes on a
// loaded machine stretch wall time, not this. (Speed targets live in `npm run bench`.)
export function cpuMs(f: () => void): number {
  const t0 = process.cpuUsage()
  f()
  const { user, system } = process.cpuUsage(t0)
  return (user + system) / 1000
}
