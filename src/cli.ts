/**
 * `tune`: a small dispatcher of subcommands. User errors (UserError) are caught here, printed
 * without a stack trace, and exit 2; anything else is a bug and exits 1 with its stack.
 *
 * Exit codes: 0 finished, 1 bug, 2 user error, 3 stopped by budget with a result,
 * 130 interrupted (study saved and resumable).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError, isUserError } from './errors.ts';
import { terminalProgress } from './progress.ts';
import { startWatchdog } from './watchdog.ts';
import { BACKENDS, checkedRedisUrl, intFlag, oneOf, reportsDirFrom, resumeCommand, studyStartFrom } from './study/config.ts';

export { parseDuration, parseImageSize, studyConfigFrom } from './study/config.ts';

const HELP = `tune — tunes a convolutional network the way an expert does, and explains every decision

Usage:
  tune --data fashion [options]      run a study: the training flowchart, unattended, with a Markdown report
  tune --resume NAME                 continue a study that was interrupted (finished runs are never retrained)
  tune diagnose FILE [--json]        diagnose a training history (Keras History JSON or MATLAB training-info CSV)
  tune init-policy FILE              write a starter policy (FILE.ts or FILE.mjs) that imports 'flowtune' and runs as is
  tune report NAME [--summary]       rewrite reports/NAME/report.md and its plots from the stored study
                                     (--summary: also print the summary and the decision log)
  tune show NAME                     print a study's summary and decision log (within 100 columns)
  tune list                          list the studies under reports/ with status, runs and accuracies
  tune serve [--port N] [--host H]   watch studies live in a browser: a read-only page per study under reports/
                                     (default http://127.0.0.1:8080/; Ctrl-C stops)
  tune bench [--backend B] [--network N|FILE] [--json]  training and evaluation speed (images/s, GFLOP/s) per backend
  tune worker --redis URL [--concurrency N] [--backend B] [--lock-seconds S]
                                     train the runs of studies started with --redis URL, on this machine
                                     (until SIGTERM/Ctrl-C; the run in flight goes back to the queue)

Study options:
  --data fashion|DIR|CSV    Fashion-MNIST (default); a folder of IDX files in the same layout; an image folder
                            (one subfolder of PNG/JPEG files per class, optionally in train/, val/, test/);
                            or a CSV file label,pixel1,…,pixelN (Kaggle layout; test file found by name)
  --data-dir DIR            the only folder to read Fashion-MNIST from (also FASHION_MNIST_DIR)
  --image-size HxW          image folders: resize every image to H×W (default: the most common size);
                            CSV: the images' H×W (default: square, from the number of pixel columns)
  --test-data FILE          CSV: the labelled test file (default: the file named with "train" → "test";
                            without one, a stratified test split is carved out and sealed)
  --skip-bad                image folders: leave out images that cannot be decoded (listed in the report)
                            instead of stopping with exit 2
  --max-memory SIZE         memory for pixels, e.g. 512M, 8G (default 2G): above it pixels are kept as
                            bytes and scaled per batch; data that does not fit even so is refused
  --name NAME               study name, the folder under reports/ (default fashion-<date>-<time>)
  --policy NAME|FILE        flowchart (default), example, random, or a .ts/.js policy file
  --budget DURATION         wall-clock budget, e.g. 30m, 1h, 90s (default 30m; 0 = none)
  --max-runs N              at most N search runs (default 32; 0 = none)
  --subset N                training images per search run, a stratified subset (default 8192; 0 = all)
  --validation-subset N     validation images per search run (default 2000; 0 = all)
  --validation-size N       validation hold-out carved from the training set: images, or a share below 1
                            (default 10000 for IDX data, 1/6 of the images for folders and CSV; not used with val/)
  --no-final-full           finalise the best search run as it is, without retraining on the full split
  --no-final-refit          the long final run trains on the training split only, not on the validation images too
  --max-epochs N            MaxEpochs of the first run (default 10)
  --initial-learn-rate X    InitialLearnRate of the first run (default 0.01 for sgdm)
  --solver sgdm|adam|rmsprop  solver of the first run (default sgdm)
  --mini-batch-size N       MiniBatchSize (default 128)
  --seed N                  seed for the split, subsets, weights and shuffling (default 0)
  --backend NAME            force tensorflow-gpu, tensorflow, wasm or cpu (default: the fastest that loads)
  --reports DIR             where studies are kept (default ./reports)
  --redis URL               send the training runs to workers (\`tune worker\`) through this Redis:
                            redis://[:PASSWORD@]HOST:PORT[/DB], rediss:// for TLS; also with --resume
  --quiet                   print only the final result
  --log-level LEVEL         level of reports/NAME/log.ndjson: trace, debug, info (default), warn, error

Other options:
  --json                    machine-readable output (diagnose, bench)
  --summary                 tune report: also print the summary and the decision log
  --accuracy-unit fraction|percent   tune diagnose: the unit of the file's accuracy columns, when its
                            values cannot tell (default: detected from their range)
  --network NAME|FILE       network to bench: default, widened, deep2, deep3, k5, k5deep, k5dropout, odd,
                            or a JSON network spec (a report's "Network as JSON"); default default
  --port N                  tune serve: the port (default 8080; 0 = any free port)
  --host H                  tune serve: the address to listen on (default 127.0.0.1, this machine only;
                            0.0.0.0 serves every interface, with a warning)
  --concurrency N           tune worker: jobs trained at once (default 1)
  --lock-seconds S          tune worker: a job without a heartbeat this long counts as stalled and goes to
                            another worker (default 300: a long step must not look like a dead worker)
  -h, --help                this help
  -v, --version             the version

Exit codes: 0 finished, 1 bug, 2 user error, 3 stopped by budget with a result, 130 interrupted (resumable).`;

const OPTIONS = {
  data: { type: 'string' },
  'data-dir': { type: 'string' },
  'image-size': { type: 'string' },
  'test-data': { type: 'string' },
  'skip-bad': { type: 'boolean' },
  'max-memory': { type: 'string' },
  name: { type: 'string' },
  policy: { type: 'string' },
  budget: { type: 'string' },
  'max-runs': { type: 'string' },
  subset: { type: 'string' },
  'validation-subset': { type: 'string' },
  'validation-size': { type: 'string' },
  'no-final-full': { type: 'boolean' },
  'no-final-refit': { type: 'boolean' },
  'max-epochs': { type: 'string' },
  'initial-learn-rate': { type: 'string' },
  solver: { type: 'string' },
  'mini-batch-size': { type: 'string' },
  seed: { type: 'string' },
  backend: { type: 'string' },
  reports: { type: 'string' },
  resume: { type: 'string' },
  quiet: { type: 'boolean' },
  'log-level': { type: 'string' },
  json: { type: 'boolean' },
  summary: { type: 'boolean' },
  'accuracy-unit': { type: 'string' },
  network: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  redis: { type: 'string' },
  concurrency: { type: 'string' },
  'lock-seconds': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} satisfies ParseArgsConfig['options'];

type Values = Partial<Record<keyof typeof OPTIONS, string | boolean>>;

const SUBCOMMANDS = ['run', 'diagnose', 'report', 'show', 'list', 'serve', 'bench', 'init-policy', 'worker'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

async function runCommand(values: Values): Promise<number> {
  const { runStudy } = await import('./study/index.ts');
  const progress = terminalProgress(process.stderr, Boolean(values.quiet));
  const { target, ...start } = await studyStartFrom(values);
  const name = typeof target === 'string' ? target : target.name;
  const resume = resumeCommand(name, { studyDir: path.join(start.reportsDir, name), redis: typeof values.redis === 'string' });
  const stopWatching = startWatchdog(
    `tune: study "${name}": nothing has run for {seconds} s — a call of the training backend never returned (its threads hung). ` +
      `Stopped; every finished run is saved: continue with ${resume}.`,
  );
  const outcome = await runStudy(target, { ...start, progress }).finally(stopWatching);
  if (outcome.error) throw outcome.error; // the study failed: a UserError exits 2, a bug 1
  if (values.quiet && outcome.study.final) {
    process.stdout.write(`${(outcome.study.final.testAccuracy * 100).toFixed(2)}% test accuracy — ${path.join(outcome.dir, 'report.md')}\n`);
  }
  return outcome.exitCode;
}

/** `tune worker --redis URL`: trains the queue's jobs until stopped (src/queue/worker.ts). */
async function workerCommand(values: Values): Promise<number> {
  if (typeof values.redis !== 'string') throw new UserError('tune worker needs --redis URL: the Redis the study was started with (tune --data … --redis URL), e.g. redis://127.0.0.1:6379.');
  const url = await checkedRedisUrl(values.redis);
  const { runWorker, DEFAULT_LOCK_SECONDS } = await import('./queue/worker.ts');
  const { VERSION } = await import('./version.ts');
  stopWorking = true;
  startWatchdog(`tune worker: nothing has run for {seconds} s — a call of the training backend never returned (its threads hung). Stopped; its job goes back to the queue when its lock expires.`);
  return runWorker({
    url,
    concurrency: intFlag(values, 'concurrency', 1, 1),
    backend: oneOf(values, 'backend', BACKENDS) ?? null,
    lockSeconds: intFlag(values, 'lock-seconds', DEFAULT_LOCK_SECONDS, 1),
    version: VERSION,
    say: (line) => process.stderr.write(`tune worker: ${line}\n`),
  });
}

async function diagnoseCommand(positionals: string[], values: Values): Promise<number> {
  const file = positionals[0];
  if (!file) throw new UserError('tune diagnose needs a file: tune diagnose history.json (Keras History JSON) or training-info.csv (MATLAB).');
  const { diagnoseFile } = await import('./history-file.ts');
  const { formatDiagnosis } = await import('./diagnosis/standalone.ts');
  const { loadPolicy } = await import('./policy-loader.ts');
  const { policy, source } = await loadPolicy(typeof values.policy === 'string' ? values.policy : 'flowchart', process.cwd());
  const accuracyUnit = oneOf(values, 'accuracy-unit', ['fraction', 'percent'] as const);
  const result = diagnoseFile(file, policy, source, { accuracyUnit });
  process.stdout.write(formatDiagnosis(result, Boolean(values.json)) + '\n');
  return 0;
}

/** The width of terminal text: 100 columns, or the terminal's when it is narrower. */
function terminalWidth(): number {
  const columns = process.stdout.isTTY ? process.stdout.columns : undefined;
  return columns && columns >= 60 ? Math.min(100, columns) : 100;
}

async function readNamedStudy(positionals: string[], values: Values, command: string) {
  const name = positionals[0];
  if (!name) throw new UserError(`tune ${command} needs a study name: tune ${command} NAME (see \`tune list\`).`);
  const { readStudyFile, STUDY_FILE } = await import('./store/study-store.ts');
  const dir = path.join(reportsDirFrom(values), name);
  return { dir, study: readStudyFile(path.join(dir, STUDY_FILE)) }; // read-only: no lock, works while the study runs
}

async function reportCommand(positionals: string[], values: Values): Promise<number> {
  const { dir, study } = await readNamedStudy(positionals, values, 'report');
  const { writeReport, renderSummaryText } = await import('./report/index.ts');
  await writeReport(study, dir, { refresh: study.runs.map((r) => r.id) });
  if (values.summary) process.stdout.write(`${renderSummaryText(study, { width: terminalWidth(), studyDir: dir })}\n`);
  process.stdout.write(`${path.join(dir, 'report.md')}\n`);
  return 0;
}

async function showCommand(positionals: string[], values: Values): Promise<number> {
  const { dir, study } = await readNamedStudy(positionals, values, 'show');
  const { renderSummaryText } = await import('./report/terminal.ts');
  process.stdout.write(renderSummaryText(study, { width: terminalWidth(), studyDir: dir }));
  return 0;
}

async function listCommand(values: Values): Promise<number> {
  const { listStudies, renderStudyList } = await import('./report/index.ts');
  const dir = reportsDirFrom(values);
  const rows = existsSync(dir) ? await listStudies(dir) : [];
  process.stdout.write(renderStudyList(rows, dir) + '\n');
  return 0;
}

/** While `tune serve` runs: what Ctrl-C does (close the server; the command then exits 0). */
let stopServing: (() => Promise<void>) | null = null;
/** While `tune worker` runs, SIGTERM and Ctrl-C are the worker's own (its job goes back to the queue). */
let stopWorking = false;

async function serveCommand(values: Values): Promise<number> {
  const { startServer, exposureWarning, DEFAULT_HOST, DEFAULT_PORT } = await import('./serve/server.ts');
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`--port ${values.port} is not valid: give a whole number from 1 to 65535 (e.g. 8080), or 0 for any free port.`);
  }
  const host = typeof values.host === 'string' && values.host !== '' ? values.host : DEFAULT_HOST;
  const dir = reportsDirFrom(values);
  const server = await startServer({ reportsDir: dir, host, port });
  const warning = exposureWarning(host, server.port);
  if (warning) process.stderr.write(`${warning}\n`);
  process.stdout.write(`tune serve: ${server.url} — the studies in ${dir}, read-only, live. Ctrl-C stops.\n`);
  await new Promise<void>((resolve) => {
    stopServing = async () => {
      await server.close();
      resolve();
    };
  });
  return 0;
}

async function initPolicyCommand(positionals: string[]): Promise<number> {
  const { initPolicy } = await import('./init-policy.ts');
  process.stdout.write(initPolicy(positionals[0], process.cwd()).join('\n') + '\n');
  return 0;
}

async function benchCommand(values: Values): Promise<number> {
  const { benchNetwork, runBench } = await import('./bench.ts');
  const backend = oneOf(values, 'backend', BACKENDS) ?? null;
  const network = benchNetwork(typeof values.network === 'string' ? values.network : 'default');
  await runBench({
    backend,
    json: Boolean(values.json),
    network,
    data: typeof values.data === 'string' ? values.data : 'fashion',
    dataDir: typeof values['data-dir'] === 'string' ? values['data-dir'] : process.env.FASHION_MNIST_DIR || null,
    onLine: (line: string) => process.stdout.write(line + '\n') });
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UserError(`${(error as Error).message}. Run \`tune --help\` for the flags.`);
  }
  const { values, positionals } = parsed as { values: Values; positionals: string[] };
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (values.version) {
    const { VERSION } = await import('./version.ts');
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  const [first, ...rest] = positionals;
  const command: Subcommand = first === undefined ? 'run' : (first as Subcommand);
  if (!SUBCOMMANDS.includes(command)) {
    throw new UserError(`Unknown command "${first}". Commands: ${SUBCOMMANDS.join(', ')} (or no command with --data to run a study). Run \`tune --help\`.`);
  }
  switch (command) {
    case 'run':
      if (!values.data && !values.resume) {
        throw new UserError('Nothing to do: start a study with `tune --data fashion`, resume one with `tune --resume NAME`, or see `tune --help`.');
      }
      return runCommand(values);
    case 'diagnose':
      return diagnoseCommand(rest, values);
    case 'report':
      return reportCommand(rest, values);
    case 'show':
      return showCommand(rest, values);
    case 'list':
      return listCommand(values);
    case 'serve':
      return serveCommand(values);
    case 'bench':
      return benchCommand(values);
    case 'init-policy':
      return initPolicyCommand(rest);
    case 'worker':
      return workerCommand(values);
  }
}

/** Entry point used by bin/tune.js: maps errors to exit codes. */
export async function cli(argv: string[]): Promise<void> {
  const interrupted = async () => {
    if (stopWorking) return;
    if (stopServing) {
      process.stderr.write('\ntune serve: stopped.\n');
      return stopServing();
    }
    process.stderr.write('\ninterrupted: saving the study ...\n');
    const timeout = setTimeout(() => process.exit(130), 5000);
    try {
      const { interruptStudy } = await import('./study/index.ts');
      const stopped = await interruptStudy();
      process.stderr.write(stopped ? `every finished run is saved; continue with ${stopped.resume}.\n` : '');
    } finally {
      clearTimeout(timeout);
      process.exit(130);
    }
  };
  process.once('SIGINT', () => void interrupted());
  process.once('SIGTERM', () => void interrupted());
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    if (isUserError(error)) {
      process.stderr.write(`tune: ${error.message}\n`);
      process.exitCode = 2;
    } else {
      // A bug: one line here; the stack is in the study's log when there is one, else printed.
      const logFile = (error as { logFile?: string })?.logFile;
      process.stderr.write(
        logFile
          ? `tune: internal error (a bug, please report it): ${(error as Error).message} The stack is in ${logFile}.\n`
          : `tune: internal error (a bug, please report it):\n${(error as Error)?.stack ?? String(error)}\n`,
      );
      process.exitCode = 1;
    }
  }
}
