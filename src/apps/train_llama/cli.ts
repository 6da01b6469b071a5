// `tsgrad train-llama`: parse the options, run the training, print the summary. Exit status 0 on
// success, 2 for bad options, 1 for other errors (message on stderr). Progress goes to stderr;
// stdout gets the final summary only.
import type { Writable } from 'node:stream'
import { parseTrainArgs, USAGE, UsageError } from './args.js'
import { formatDuration } from './progress.js'
import { trainLlama } from './run.js'

export interface TrainCliIO {
  stdout: Writable
  stderr: Writable & { isTTY?: boolean; columns?: number }
}

export async function runTrainLlamaCli(
  argv: readonly string[],
  io: TrainCliIO = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let o: ReturnType<typeof parseTrainArgs>
  try {
    o = parseTrainArgs(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    io.stderr.write(`tsgrad train-llama: ${e.message}\nrun 'tsgrad train-llama --help' for the options\n`)
    return 2
  }
  if (o === 'help') {
    io.stdout.write(`${USAGE}\n`)
    return 0
  }
  try {
    const r = await trainLlama(o, { progress: io.stderr })
    io.stdout.write(
      `${JSON.stringify({
        finalValLoss: Number(r.finalValLoss.toFixed(4)),
        unigramValEntropy: Number(r.unigramValEntropy.toFixed(4)),
        tokensPerSecond: Math.round(r.tokensPerSecond),
        trainTime: formatDuration(r.trainSeconds),
        gguf: r.paths.gguf,
        plot: r.paths.plot,
        sample: r.sample,
      })}\n`,
    )
    return 0
  } catch (e) {
    io.stderr.write(`tsgrad train-llama: ${(e as Error).message}\n`)
    return 1
  }
}
