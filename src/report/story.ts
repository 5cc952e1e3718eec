/**
 * The story of a stored study, told in order: every decision (the policy's, the refused ones, the
 * machine's own) and every run, merged into one chronological list; which configuration the user
 * ends up with and which kept changes led to it; where the time went. PURE: a StudyRecord in,
 * plain facts out; the Markdown and terminal renderers read them.
 *
 * The store keeps decisions and runs apart. A decision is joined to the run it produced by its
 * content (a run's `change` is the decision itself) or, for the machine's final-run plan, by the
 * final run it planned; runs no decision produced (the baseline, a replicate, a confirmation) are
 * entries of their own. Older studies (before paired verdicts) render the same way.
 */
import type { Decision, TrainingOptions } from '../types.ts';
import type { DecisionRecord, MachineDecisionKind, RunRecord, StudyRecord } from '../store/records.ts';

/** What a machine decision was about, read from its sentence (the store keeps it as prose). */

export type EntryKind =
  /** The first run: the starting configuration. */
  | 'baseline'
  /** A policy decision (with its run when it trained one). */
  | 'decision'
  /** A policy decision the machine refused (the policy was asked again). */
  | 'refused'
  /** A decision of the machine itself (budget, finalists, final-run plan, final weights). */
  | 'machine'
  /** A run no decision record produced: a replicate, a confirmation, an older study's final run. */
  | 'run';

export interface Entry {
  /** 1-based position in the log. */
  n: number;
  kind: EntryKind;
  /** ISO time it happened (the decision's, or the run's start). */
  at: string;
  record: DecisionRecord | null;
  machine: MachineDecisionKind | null;
  /** The run it produced or is (null: a decision without a run). */
  run: RunRecord | null;
  /** The incumbent (standing run) when it was decided. */
  incumbent: number | null;
}

export interface Story {
  entries: Entry[];
  /** The study is still running (its latest decision's run may be training). */
  running: boolean;
  byId: Map<number, RunRecord>;
  /** The last final run (verdict 'final'), if any. */
  finalRun: RunRecord | null;
  /** The run whose weights were finalised and tested. */
  chosenRun: RunRecord | null;
  /** The search run whose configuration is the user's: the final run's search parent, else the chosen run, else the incumbent. */
  configRun: RunRecord | null;
  /** Its configuration as the user would reproduce it: trims applied, internal settings restored. */
  userConfig: { network: RunRecord['network']; options: TrainingOptions } | null;
  /** The kept changes from the starting configuration to configRun's, in order (runs with a change). */
  lineage: RunRecord[];
  /** trimEpochs decisions applied to a configuration of the lineage (no run). */
  trims: Entry[];
  /** Search runs kept as incumbent that the final configuration does not build on. */
  abandoned: RunRecord[];
  /** The machine decision that finalised another configuration than the incumbent (finalists). */
  finalistsEntry: Entry | null;
  time: TimeSplit;
}

export interface TimeSplit {
  used: number;
  budget: number | null;
  search: { seconds: number; runs: number };
  confirm: { seconds: number; runs: number };
  final: { seconds: number; runs: number };
  /** Evaluations on the validation and test sets, decisions, saving and writing. */
  other: number;
}

const keyOf = (d: Pick<Decision, 'action' | 'params' | 'reason'>) => JSON.stringify([d.action, d.params ?? {}, d.reason]);

const isSearch = (r: RunRecord) => r.kind !== 'final' && r.kind !== 'confirm';
const seconds = (r: RunRecord) => (typeof r.result?.seconds === 'number' && Number.isFinite(r.result.seconds) ? r.result.seconds : 0);
const time = (iso: string | null | undefined) => {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : Infinity;
};

/** Whether a judged run became the incumbent. */
export function becameIncumbent(run: RunRecord): boolean {
  if (run.verdict === 'baseline' || run.verdict === 'kept') return true;
  return run.verdict === 'tie' && run.judgement?.kept === true;
}

export function tellStory(study: StudyRecord): Story {
  const runs = study.runs ?? [];
  const byId = new Map(runs.map((r) => [r.id, r]));
  const decisions = study.decisions ?? [];

  // Join decisions to the runs they produced.
  const runOf = new Map<DecisionRecord, RunRecord>();
  const claimed = new Set<number>();
  for (const rec of decisions) {
    if (rec.refused) continue;
    if (rec.by === 'machine') {
      if (rec.machine === 'finalRun') {
        const run = runs.find((r) => r.kind === 'final' && !claimed.has(r.id) && r.id > rec.afterRun && time(r.startedAt) >= time(rec.at) - 1000);
        if (run) {
          runOf.set(rec, run);
          claimed.add(run.id);
        }
      }
      continue;
    }
    const k = keyOf(rec.decision);
    const run = runs.find((r) => r.change && !claimed.has(r.id) && r.id > rec.afterRun && keyOf(r.change) === k);
    if (run) {
      runOf.set(rec, run);
      claimed.add(run.id);
    }
  }

  type Draft = Omit<Entry, 'n' | 'incumbent'> & { order: number };
  const drafts: Draft[] = [];
  decisions.forEach((rec, i) => {
    const kind: EntryKind = rec.refused ? 'refused' : rec.by === 'machine' ? 'machine' : 'decision';
    drafts.push({ kind, at: rec.at, record: rec, machine: rec.by === 'machine' ? rec.machine : null, run: runOf.get(rec) ?? null, order: i });
  });
  runs.forEach((run, i) => {
    if (claimed.has(run.id)) return;
    drafts.push({ kind: run.verdict === 'baseline' || (i === 0 && !run.change) ? 'baseline' : 'run', at: run.startedAt, record: null, machine: null, run, order: decisions.length + i });
  });
  // Chronological; a run-only entry and a decision at the same moment keep the store's order.
  drafts.sort((a, b) => time(a.at) - time(b.at) || a.order - b.order);

  // Replay who stood when each entry was decided.
  let incumbent: number | null = null;
  const entries: Entry[] = drafts.map(({ order: _order, ...d }, i) => {
    const entry: Entry = { ...d, n: i + 1, incumbent };
    const run = d.run;
    if (run && isSearch(run) && run.kind !== 'replicate' && becameIncumbent(run)) incumbent = run.id;
    return entry;
  });

  const finalRun = [...runs].reverse().find((r) => r.kind === 'final') ?? null;
  const chosenRun = study.final ? byId.get(study.final.runId) ?? null : null;
  const searchParent = (r: RunRecord | null): RunRecord | null => {
    for (let guard = 0; r && !isSearch(r) && guard < 100; guard++) {
      const next = r.basedOn ?? r.parentId;
      r = next === null || next === undefined ? null : byId.get(next) ?? null;
    }
    return r;
  };
  const incumbentRun = study.incumbentId === null || study.incumbentId === undefined ? null : byId.get(study.incumbentId) ?? null;
  const configRun = finalRun ? searchParent(finalRun) : chosenRun ? searchParent(chosenRun) : incumbentRun && isSearch(incumbentRun) ? incumbentRun : searchParent(incumbentRun);

  // The lineage: configRun back to the baseline through the configurations each change applied to.
  const lineage: RunRecord[] = [];
  const inLineage = new Set<number>();
  for (let r: RunRecord | null = configRun, guard = 0; r && guard < 1000; guard++) {
    inLineage.add(r.id);
    if (r.change) lineage.unshift(r);
    const next: number | null | undefined = r.basedOn ?? r.parentId;
    r = next === null || next === undefined ? null : byId.get(next) ?? null;
  }
  const trims = entries.filter((e) => e.kind === 'decision' && e.record?.decision?.action === 'trimEpochs' && e.incumbent !== null && inLineage.has(e.incumbent));
  const abandoned = runs.filter((r) => isSearch(r) && r.verdict !== 'baseline' && becameIncumbent(r) && !inLineage.has(r.id));
  const finalistsEntry = entries.find((e) => e.machine === 'finalists' && /finalised instead/.test(e.record?.reason ?? '')) ?? null;

  return {
    entries,
    running: study.status === 'running',
    byId,
    finalRun,
    chosenRun,
    configRun,
    userConfig: configRun ? userConfiguration(study, configRun, trims) : null,
    lineage,
    trims,
    abandoned,
    finalistsEntry,
    time: timeSplit(study),
  };
}

/**
 * The configuration to reproduce: the search run's network and options, with the trims decided
 * while it stood applied, and the settings flowtune chose for itself (the validation frequency:
 * once per epoch of its subset) back to what the study started with.
 */
function userConfiguration(study: StudyRecord, run: RunRecord, trims: Entry[]) {
  const options: TrainingOptions = { ...run.options };
  for (const t of trims) {
    if (t.incumbent !== run.id) continue;
    const maxEpochs = (t.record?.decision?.params as { maxEpochs?: number } | undefined)?.maxEpochs;
    if (typeof maxEpochs === 'number') options.maxEpochs = maxEpochs;
  }
  const base = study.config?.baseOptions;
  if (base && typeof base.validationFrequency === 'number') options.validationFrequency = base.validationFrequency;
  return { network: run.network, options };
}

function timeSplit(study: StudyRecord): TimeSplit {
  const runs = study.runs ?? [];
  const sum = (rs: RunRecord[]) => ({ seconds: rs.reduce((s, r) => s + seconds(r), 0), runs: rs.length });
  const search = sum(runs.filter(isSearch));
  const confirm = sum(runs.filter((r) => r.kind === 'confirm'));
  const final = sum(runs.filter((r) => r.kind === 'final'));
  const used = study.budget?.secondsUsed ?? search.seconds + confirm.seconds + final.seconds;
  return { used, budget: study.config?.budgetSeconds ?? null, search, confirm, final, other: Math.max(0, used - search.seconds - confirm.seconds - final.seconds) };
}
