// Entry point of `npm start`: train the MNIST CNN, report the test accuracy, save the model.
// Exit status 0 on success, 2 for bad options, 1 for any other error (message on stderr).
import { parseArgs, USAGE } from './cli.js'
import { trainMnist } from './trainer.js'

async function main(argv: string[]): Promise<number> {
  let opts: ReturnType<typeof parseArgs>
  try {
    opts = parseArgs(argv)
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`)
    return 2
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  try {
    const r = await trainMnist(opts, {
      progress: process.stdout,
      log: (line) => process.stdout.write(`${line}\n`),
    })
    const pct = (r.testAccuracy * 100).toFixed(2)
    process.stdout.write(
      `test accuracy ${pct}% on ${r.testCount} images after ${r.losses.length} steps ` +
        `(${r.trainSeconds.toFixed(1)} s training: first step ${r.firstStepSeconds.toFixed(1)} s with compiles, ` +
        `then ${r.stepSeconds.toFixed(2)} s/step on ${r.device})\n` +
        `saved the model to ${r.outPath}\n`,
    )
    return 0
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`)
    return 1
  }
}

process.exitCode = await main(process.argv.slice(2))
