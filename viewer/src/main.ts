// The live viewer: the shell (sign-in, navigation, hash routes) and its pages. Later admin pages (approvals,
// reports) are one more entry in `pages` and one more nav link.
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import { api, ApiError, session, type Run } from './api.ts';
import { openStream } from './live-stream.ts';
import { rateAndEta, type Reading } from './progress.ts';
import type { RunProgress, StreamFrame } from '../../src/live/stream-messages.ts';
import type { LogEvent, LogOutcome, LogStage } from '../../kernel/contracts/messages.ts';

/** How many events a page keeps and renders: the rest are counted, not drawn. */
const EVENT_CAP = 200;

type Route =
  | { page: 'runs' }
  | { page: 'people' }
  | { page: 'live' }
  | { page: 'run'; id: string }
  | { page: 'identity'; id: string }
  | { page: 'object'; applicationId: string; externalId: string };

function parseRoute(hash: string): Route {
  if (hash === '#/people') return { page: 'people' };
  if (hash === '#/live') return { page: 'live' };
  const run = /^#\/runs\/([0-9a-f-]{36})$/.exec(hash);
  if (run?.[1] !== undefined) return { page: 'run', id: run[1] };
  const identity = /^#\/identities\/([0-9a-f-]{36})$/.exec(hash);
  if (identity?.[1] !== undefined) return { page: 'identity', id: identity[1] };
  const object = /^#\/objects\/([0-9a-f-]{36})\/(.+)$/.exec(hash);
  if (object?.[1] !== undefined && object[2] !== undefined) {
    try {
      return { page: 'object', applicationId: object[1], externalId: decodeURIComponent(object[2]) };
    } catch {
      return { page: 'runs' };
    }
  }
  return { page: 'runs' };
}

function useRoute(): Route {
  const [route, setRoute] = useState(parseRoute(location.hash));
  useEffect(() => {
    const changed = () => {
      setRoute(parseRoute(location.hash));
    };
    addEventListener('hashchange', changed);
    return () => {
      removeEventListener('hashchange', changed);
    };
  }, []);
  return route;
}

const number = new Intl.NumberFormat();
const fmt = (value: number | null | undefined) =>
  value === null || value === undefined ? '–' : number.format(value);
const duration = (seconds: number | null) =>
  seconds === null
    ? '–'
    : seconds < 90
      ? `${String(Math.round(seconds))} s`
      : `${String(Math.round(seconds / 60))} min`;

function SignIn(props: { onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    session.signIn(key.trim());
    try {
      await api('/v1/tenant');
      props.onSignedIn();
    } catch (caught) {
      session.signOut();
      setError(caught instanceof ApiError ? caught.message : String(caught));
    }
  };
  return html`<form class="sign-in" onSubmit=${submit}>
    <h1>Joinery</h1>
    <label for="api-key">API key</label>
    <input
      id="api-key"
      type="password"
      autocomplete="off"
      value=${key}
      onInput=${(event: Event) => {
        setKey((event.target as HTMLInputElement).value);
      }}
    />
    <p class="hint">Kept in this tab only (sessionStorage); used to call the API and open live streams.</p>
    <button type="submit">Sign in</button>
    ${error === null ? null : html`<p class="error" role="alert">${error}</p>`}
  </form>`;
}

function Runs() {
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const load = async () => {
      try {
        const page = await api<{ items: Run[] }>('/v1/runs?limit=50');
        if (live) setRuns(page.items);
      } catch (caught) {
        if (live) setError((caught as Error).message);
      }
    };
    void load();
    const timer = setInterval(() => void load(), 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);
  if (error !== null) return html`<p class="error">${error}</p>`;
  if (runs === null) return html`<p>Loading sync runs…</p>`;
  return html`<section>
    <h2>Sync runs</h2>
    <table class="runs">
      <thead>
        <tr>
          <th>Started</th>
          <th>Application</th>
          <th>Kind</th>
          <th>Status</th>
          <th>Seen</th>
          <th>Rejected</th>
        </tr>
      </thead>
      <tbody>
        ${runs.map(
          (run) =>
            html`<tr key=${run.id}>
              <td>
                <a href=${`#/runs/${run.id}`} data-run=${run.id}
                  >${new Date(run.startedAt).toLocaleString()}</a
                >
              </td>
              <td class="id">${run.applicationId.slice(0, 8)}</td>
              <td>${run.kind ?? ''}</td>
              <td><span class=${`status ${run.status}`}>${run.status}</span></td>
              <td class="n">${fmt(run.seen)}</td>
              <td class="n">${fmt(run.rejected)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

interface RunState {
  progress: RunProgress | null;
  events: { id: string; event: LogEvent }[];
  errors: { id: string; event: LogEvent }[];
  received: number;
  dropped: number;
  notices: string[];
}

function RunPage(props: { id: string }) {
  const [state, setState] = useState<RunState>({
    progress: null,
    events: [],
    errors: [],
    received: 0,
    dropped: 0,
    notices: [],
  });
  const [status, setStatus] = useState('connecting…');
  const [rejectedRows, setRejectedRows] = useState<{ line: number; reason: string }[]>([]);
  const readings = useRef<Reading[]>([]);

  useEffect(() => {
    readings.current = [];
    const stream = openStream(`/v1/streams?run=${props.id}`, {
      status: setStatus,
      frames: (frames: StreamFrame[]) => {
        setState((previous) => {
          let { progress, events, errors, received, dropped, notices } = previous;
          const newEvents: { id: string; event: LogEvent }[] = [];
          for (const frame of frames) {
            if (frame.type === 'snapshot' || frame.type === 'progress') {
              progress = frame.run;
              readings.current.push({ at: Date.parse(frame.run.at), seen: frame.run.stages.import.seen });
              if (readings.current.length > 100) readings.current.splice(0, 50);
            } else if (frame.type === 'event') {
              received++;
              newEvents.push({ id: frame.id, event: frame.event });
            } else if (frame.type === 'dropped') {
              dropped += frame.count;
            } else if (frame.type === 'missed') {
              notices = [...notices, frame.message].slice(-5);
            }
          }
          if (newEvents.length > 0) {
            events = [...newEvents.slice(-EVENT_CAP).reverse(), ...events].slice(0, EVENT_CAP);
            const failed = newEvents.filter(
              ({ event }) => event.level === 'error' || (event as { outcome?: string }).outcome === 'failed',
            );
            if (failed.length > 0) errors = [...failed.reverse(), ...errors].slice(0, EVENT_CAP);
          }
          return { progress, events, errors, received, dropped, notices };
        });
      },
    });
    return () => {
      stream.close();
    };
  }, [props.id]);

  // Rejected rows (a file's lines the run could not read) are in the run's errors; fetched when they change.
  const rejected = state.progress?.stages.import.rejected ?? 0;
  useEffect(() => {
    if (rejected === 0) return;
    void api<{ items: { line: number; reason: string }[] }>(`/v1/runs/${props.id}/errors?limit=100`).then(
      (page) => {
        setRejectedRows(page.items);
      },
    );
  }, [props.id, rejected]);

  const progress = state.progress;
  const imported = progress?.stages.import;
  const { rate, etaSeconds } = useMemo(
    () => rateAndEta(readings.current, imported?.total ?? null),
    [progress],
  );
  const done =
    progress !== null &&
    ['completed', 'aborted', 'failed', 'incomplete', 'discarded'].includes(progress.status);
  const percent = imported?.total ? Math.min(100, (100 * imported.seen) / imported.total) : null;
  return html`<section>
    <h2>Sync run <span class="id">${props.id}</span></h2>
    <p class="stream-status" data-stream-status=${status}>Stream: ${status}</p>
    ${
      progress === null
        ? html`<p>Waiting for the run's counters…</p>`
        : html`<div class="run-summary">
            <p>
              Status:${' '}
              <strong data-run-status=${progress.status} class=${`status ${progress.status}`}
                >${progress.status}</strong
              >
              ${progress.reason === null ? null : html` — ${progress.reason}`}
            </p>
            <table class="stages">
              <thead>
                <tr>
                  <th>Stage</th>
                  <th>Done</th>
                  <th>Of</th>
                  <th>Rate</th>
                  <th>ETA</th>
                  <th>Other</th>
                </tr>
              </thead>
              <tbody>
                <tr data-stage="import">
                  <td>Import</td>
                  <td class="n" data-count="seen">${fmt(imported?.seen)}</td>
                  <td class="n" data-count="total">${fmt(imported?.total)}</td>
                  <td class="n">${done || rate === null ? '–' : `${fmt(Math.round(rate))}/s`}</td>
                  <td class="n">${done ? '–' : duration(etaSeconds)}</td>
                  <td>
                    rejected <span data-count="rejected">${fmt(imported?.rejected)}</span>, deleted
                    ${fmt(imported?.deletions)}
                  </td>
                </tr>
                <tr data-stage="join">
                  <td>Join</td>
                  <td class="n" data-count="joined">${fmt(progress.stages.join?.joined)}</td>
                  <td class="n">${fmt(imported?.seen)}</td>
                  <td></td>
                  <td></td>
                  <td>
                    conflicts ${fmt(progress.stages.join?.conflicts)}, unjoined
                    ${fmt(progress.stages.join?.unjoined)}
                  </td>
                </tr>
                <tr data-stage="export">
                  <td>Export</td>
                  <td class="n" data-count="delivered">${fmt(progress.stages.export?.delivered)}</td>
                  <td class="n"></td>
                  <td></td>
                  <td></td>
                  <td>
                    queued <span data-count="queued">${fmt(progress.stages.export?.queued)}</span>, held
                    <span data-count="held">${fmt(progress.stages.export?.held)}</span>, failed
                    <span data-count="failed">${fmt(progress.stages.export?.failed)}</span>, sandbox
                    ${fmt(progress.stages.export?.sandbox)}
                  </td>
                </tr>
              </tbody>
            </table>
            <progress max="100" value=${percent ?? 0} aria-label="import progress"></progress>
          </div>`
    }
    ${state.notices.map((notice) => html`<p class="notice">${notice}</p>`)}
    ${state.dropped > 0 ? html`<p class="notice">${fmt(state.dropped)} events were not shown: this page read too slowly. The counters above are exact.</p>` : null}
    <h3>Errors</h3>
    <ul class="errors">
      ${rejectedRows.map((row) => html`<li key=${`line-${String(row.line)}`} data-error="rejected-row">line ${row.line}: ${row.reason}</li>`)}
      ${state.errors.map(
        ({ id, event }) =>
          html`<li key=${id} data-error="event">
            ${objectLink(event)} ${event.errorCode ?? ''} ${event.reason ?? event.message}
          </li>`,
      )}
    </ul>
    <h3>Events <small>(${fmt(state.received)} received; latest ${EVENT_CAP} shown)</small></h3>
    <ol class="events">
      ${state.events.map(
        ({ id, event }) =>
          html`<li key=${id}>
            <time>${new Date(event.at).toLocaleTimeString()}</time>
            ${(event as { stage?: string }).stage ?? event.category}
            ${(event as { outcome?: string }).outcome ?? ''} ${objectLink(event)} ${event.message}
          </li>`,
      )}
    </ol>
  </section>`;
}

function objectLink(event: LogEvent) {
  if (event.identityId !== undefined)
    return html`<a href=${`#/identities/${event.identityId}`}
      >${event.externalId ?? event.identityId.slice(0, 8)}</a
    >`;
  if (event.externalId === undefined) return null;
  return event.applicationId === undefined
    ? html`<code>${event.externalId}</code>`
    : html`<a href=${objectHref(event.applicationId, event.externalId)}><code>${event.externalId}</code></a>`;
}

/** A history item: a logstream event as the audit history stored it, with its id. */
type HistoryItem = LogEvent & { id: string };

const shown = (value: unknown) => (value === undefined ? '∅' : JSON.stringify(value));

/** One event of a history: when, which stage and outcome, what decided, and the changes before → after. */
function HistoryEntry(props: { item: HistoryItem }) {
  const { item } = props;
  return html`<li data-history-event=${item.id}>
    <time datetime=${item.at}>${new Date(item.at).toLocaleString()}</time>${' '}
    <span class="stage">${item.stage ?? item.category}</span>${' '}
    ${item.outcome === undefined ? null : html`<span class=${`outcome ${item.outcome}`}>${item.outcome}</span>`}
    ${' '}${item.message}
    ${item.decidedBy === undefined ? null : html` <span class="decided-by" data-decided-by>— ${item.decidedBy.kind} ${item.decidedBy.name}</span>`}
    ${item.actor === undefined ? null : html` <span class="actor">by ${item.actor.kind} ${item.actor.name ?? item.actor.id ?? ''}</span>`}
    ${item.applicationId === undefined || item.externalId === undefined ? null : html` <a href=${objectHref(item.applicationId, item.externalId)}><code>${item.externalId}</code></a>`}
    ${item.errorCode === undefined && item.reason === undefined ? null : html`<div class="reason">${item.errorCode ?? ''} ${item.reason ?? ''}</div>`}
    ${
      item.changes === undefined || item.changes.length === 0
        ? null
        : html`<table class="changes">
            <tbody>
              ${item.changes.map(
                (change) =>
                  html`<tr data-change=${change.attribute}>
                    <th>${change.attribute}</th>
                    <td class="old">${shown(change.old)}</td>
                    <td>→</td>
                    <td class="new">${shown(change.new)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </li>`;
}

/**
 * The audit history of what `path` names (`/v1/identities/:id/history`, `/v1/audit?…`), newest first, a
 * page at a time: "Older events" follows the page's keyset cursor. Keyed by what it shows where it is used,
 * so another person's page starts empty and loading, never showing the previous person's events.
 */
function History(props: { path: string }) {
  const [items, setItems] = useState<HistoryItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const load = async (after: string | null) => {
    setLoading(true);
    try {
      const separator = props.path.includes('?') ? '&' : '?';
      const page = await api<{ items: HistoryItem[]; nextCursor: string | null; notice?: string }>(
        `${props.path}${separator}limit=50${after === null ? '' : `&after=${encodeURIComponent(after)}`}`,
      );
      setItems((previous) => (after === null ? page.items : [...previous, ...page.items]));
      setCursor(page.nextCursor);
      setNotice(page.notice ?? null);
      setError(null);
    } catch (caught) {
      setError((caught as Error).message);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void load(null);
  }, [props.path]);
  return html`<div class="history" data-history=${loading ? 'loading' : 'loaded'}>
    <p>
      <button class="link" onClick=${() => void load(null)}>Refresh</button>
    </p>
    ${error === null ? null : html`<p class="error">${error}</p>`}
    ${notice === null ? null : html`<p class="hint" data-audit-notice>${notice}</p>`}
    ${!loading && items.length === 0 && error === null ? html`<p class="hint">No events recorded yet.</p>` : null}
    <ol class="events">
      ${items.map((item) => html`<${HistoryEntry} key=${item.id} item=${item} />`)}
    </ol>
    ${cursor === null ? null : html`<button data-older disabled=${loading} onClick=${() => void load(cursor)}>Older events</button>`}
  </div>`;
}

function objectHref(applicationId: string, externalId: string): string {
  return `#/objects/${applicationId}/${encodeURIComponent(externalId)}`;
}

/** One identity: its Vault record now, its audit history, and, live, what happens to it. */
function IdentityPage(props: { id: string }) {
  const [identity, setIdentity] = useState<Record<string, unknown> | null>(null);
  const [events, setEvents] = useState<{ id: string; event: LogEvent }[]>([]);
  useEffect(() => {
    void api<Record<string, unknown>>(`/v1/identities/${props.id}`)
      .then(setIdentity)
      .catch(() => {
        setIdentity({});
      });
    const stream = openStream(`/v1/streams?identity=${props.id}`, {
      status: () => undefined,
      frames: (frames) => {
        const found = frames.flatMap((frame) =>
          frame.type === 'event' ? [{ id: frame.id, event: frame.event }] : [],
        );
        if (found.length > 0) setEvents((previous) => [...found.reverse(), ...previous].slice(0, EVENT_CAP));
      },
    });
    return () => {
      stream.close();
    };
  }, [props.id]);
  return html`<section>
    <h2>Identity <span class="id">${props.id}</span></h2>
    <pre class="record">${identity === null ? 'Loading…' : JSON.stringify(identity, null, 2)}</pre>
    <h3>History</h3>
    <${History} key=${props.id} path=${`/v1/identities/${props.id}/history`} />
    <h3>Live <small>(events as they happen)</small></h3>
    <ol class="events live">
      ${events.map(({ id, event }) => html`<${HistoryEntry} key=${id} item=${{ ...event, id }} />`)}
    </ol>
  </section>`;
}

/** One application object (application and external id): its audit history. */
function ObjectPage(props: { applicationId: string; externalId: string }) {
  const query = new URLSearchParams({ applicationId: props.applicationId, externalId: props.externalId });
  return html`<section>
    <h2>
      Object <code>${props.externalId}</code> <span class="id">application ${props.applicationId}</span>
    </h2>
    <h3>History</h3>
    <${History} key=${query.toString()} path=${`/v1/audit?${query.toString()}`} />
  </section>`;
}

interface FoundIdentity {
  id: string;
  state: string;
  attributes: Record<string, unknown>;
  updatedAt: string;
}

/** The attributes shown beside a found person, when the Vault has them. */
const NAME_ATTRIBUTES = ['displayName', 'givenName', 'sn', 'surname', 'mail', 'email', 'employeeId'];

/**
 * Finding a person to ask what happened to them: the Vault's identities whose attribute has a value
 * (`GET /v1/identities?attribute=&value=`), each linked to its page and history.
 */
function PeoplePage() {
  const [attribute, setAttribute] = useState('employeeId');
  const [value, setValue] = useState('');
  const [ignoreCase, setIgnoreCase] = useState(true);
  const [found, setFound] = useState<FoundIdentity[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const search = async (event: Event) => {
    event.preventDefault();
    const query = new URLSearchParams({
      attribute: attribute.trim(),
      value,
      ignoreCase: String(ignoreCase),
      limit: '50',
    });
    try {
      const result = await api<{ items: FoundIdentity[] }>(`/v1/identities?${query.toString()}`);
      setFound(result.items);
      setError(null);
    } catch (caught) {
      setFound(null);
      setError((caught as Error).message);
    }
  };
  const input = (set: (text: string) => void) => (event: Event) => {
    set((event.target as HTMLInputElement).value);
  };
  return html`<section>
    <h2>People</h2>
    <form class="filters" onSubmit=${search}>
      <label>Attribute <input name="attribute" value=${attribute} onInput=${input(setAttribute)} /></label>
      <label>Value <input name="value" value=${value} onInput=${input(setValue)} required /></label>
      <label
        ><input
          type="checkbox"
          name="ignoreCase"
          checked=${ignoreCase}
          onChange=${(event: Event) => {
            setIgnoreCase((event.target as HTMLInputElement).checked);
          }}
        />
        any case</label
      >
      <button type="submit">Find</button>
    </form>
    ${error === null ? null : html`<p class="error" role="alert">${error}</p>`}
    ${found !== null && found.length === 0 ? html`<p class="hint" data-people="none">Nobody has ${attribute} = ${value}.</p>` : null}
    ${
      found === null || found.length === 0
        ? null
        : html`<table class="runs" data-people="found">
            <thead>
              <tr>
                <th>Identity</th>
                <th>State</th>
                <th>Attributes</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              ${found.map(
                (identity) =>
                  html`<tr key=${identity.id}>
                    <td>
                      <a href=${`#/identities/${identity.id}`} data-identity=${identity.id}
                        >${identity.id.slice(0, 8)}</a
                      >
                    </td>
                    <td><span class=${`status ${identity.state}`}>${identity.state}</span></td>
                    <td>
                      ${NAME_ATTRIBUTES.filter((name) => identity.attributes[name] !== undefined)
                        .map((name) => `${name}: ${String(identity.attributes[name])}`)
                        .join(', ')}
                    </td>
                    <td>${new Date(identity.updatedAt).toLocaleString()}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </section>`;
}

/** The stages a tenant's events come from, as the filter offers them (every stage: the type says so). */
const STAGE_LABELS: Record<LogStage, string> = {
  import: 'Import',
  join: 'Join',
  inbound: 'Inbound',
  outbound: 'Outbound',
  export: 'Export',
  pulse: 'Pulse',
  schedule: 'Schedule',
  agent: 'Agent',
  connector: 'Connector',
  admin: 'Admin',
};
const OUTCOME_LABELS: Record<LogOutcome, string> = {
  succeeded: 'Succeeded',
  failed: 'Failed',
  held: 'Held',
  skipped: 'Skipped',
  conflict: 'Conflict',
};

interface LiveFilter {
  application: string;
  stage: string;
  outcome: string;
}

/**
 * The tenant's events as they happen, across runs (and the events of no run: pulses, admin actions,
 * retries), narrowed by application, stage and outcome on the server (`/v1/streams?…`).
 */
function LivePage() {
  const [applications, setApplications] = useState<{ id: string; name: string }[]>([]);
  const [filter, setFilter] = useState<LiveFilter>({ application: '', stage: '', outcome: '' });
  const [events, setEvents] = useState<{ id: string; event: LogEvent }[]>([]);
  const [received, setReceived] = useState(0);
  const [dropped, setDropped] = useState(0);
  /** What a resume could not give back (the server's `missed` notices), the latest few. */
  const [notices, setNotices] = useState<string[]>([]);
  const [status, setStatus] = useState('connecting…');
  /** The stage filter of the stream whose status is shown (the one opened for the current filter). */
  const [streamStage, setStreamStage] = useState('');
  useEffect(() => {
    void api<{ items: { id: string; name: string }[] }>('/v1/applications')
      .then((page) => {
        setApplications(page.items);
      })
      .catch(() => undefined);
  }, []);
  useEffect(() => {
    setEvents([]);
    setReceived(0);
    setDropped(0);
    setNotices([]);
    setStatus('connecting…');
    setStreamStage(filter.stage);
    const query = new URLSearchParams(
      Object.entries(filter).filter((entry): entry is [string, string] => entry[1] !== ''),
    );
    const stream = openStream(`/v1/streams?${query.toString()}`, {
      status: setStatus,
      frames: (frames) => {
        const found = frames.flatMap((frame) =>
          frame.type === 'event' ? [{ id: frame.id, event: frame.event }] : [],
        );
        const lost = frames.reduce((sum, frame) => sum + (frame.type === 'dropped' ? frame.count : 0), 0);
        if (lost > 0) setDropped((previous) => previous + lost);
        const missed = frames.flatMap((frame) => (frame.type === 'missed' ? [frame.message] : []));
        if (missed.length > 0) setNotices((previous) => [...previous, ...missed].slice(-5));
        if (found.length === 0) return;
        setReceived((previous) => previous + found.length);
        setEvents((previous) => [...found.slice(-EVENT_CAP).reverse(), ...previous].slice(0, EVENT_CAP));
      },
    });
    return () => {
      stream.close();
    };
  }, [filter.application, filter.stage, filter.outcome]);
  const choose = (key: keyof LiveFilter) => (event: Event) => {
    setFilter({ ...filter, [key]: (event.target as HTMLSelectElement).value });
  };
  const options = (labels: Record<string, string>) =>
    Object.entries(labels).map(([value, label]) => html`<option value=${value}>${label}</option>`);
  return html`<section>
    <h2>Live events</h2>
    <form
      class="filters"
      onSubmit=${(event: Event) => {
        event.preventDefault();
      }}
    >
      <label
        >Application
        <select name="application" value=${filter.application} onChange=${choose('application')}>
          <option value="">All</option>
          ${applications.map((application) => html`<option value=${application.id}>${application.name}</option>`)}
        </select></label
      >
      <label
        >Stage
        <select name="stage" value=${filter.stage} onChange=${choose('stage')}>
          <option value="">All</option>
          ${options(STAGE_LABELS)}
        </select></label
      >
      <label
        >Outcome
        <select name="outcome" value=${filter.outcome} onChange=${choose('outcome')}>
          <option value="">All</option>
          ${options(OUTCOME_LABELS)}
        </select></label
      >
    </form>
    <p class="stream-status" data-stream-status=${status} data-stream-stage=${streamStage}>
      Stream: ${status}
    </p>
    ${dropped > 0 ? html`<p class="notice">${fmt(dropped)} events were not shown: this page read too slowly.</p>` : null}
    ${notices.map((notice) => html`<p class="notice" data-missed>${notice}</p>`)}
    <h3>Events <small>(${fmt(received)} received; latest ${EVENT_CAP} shown)</small></h3>
    <ol class="events live" data-live-events>
      ${events.map(({ id, event }) => html`<${HistoryEntry} key=${id} item=${{ ...event, id }} />`)}
    </ol>
  </section>`;
}

const pages = {
  runs: () => html`<${Runs} />`,
  people: () => html`<${PeoplePage} />`,
  live: () => html`<${LivePage} />`,
  run: (route: Route) => (route.page === 'run' ? html`<${RunPage} id=${route.id} />` : null),
  identity: (route: Route) => (route.page === 'identity' ? html`<${IdentityPage} id=${route.id} />` : null),
  object: (route: Route) =>
    route.page === 'object'
      ? html`<${ObjectPage} applicationId=${route.applicationId} externalId=${route.externalId} />`
      : null,
};

function Shell() {
  const [signedIn, setSignedIn] = useState(session.key() !== null);
  const route = useRoute();
  if (!signedIn)
    return html`<${SignIn}
      onSignedIn=${() => {
        setSignedIn(true);
      }}
    />`;
  return html`<div class="shell">
    <nav>
      <strong>Joinery</strong>
      <a href="#/runs" class=${route.page === 'runs' ? 'active' : ''}>Sync runs</a>
      <a href="#/live" class=${route.page === 'live' ? 'active' : ''}>Live</a>
      <a href="#/people" class=${route.page === 'people' ? 'active' : ''}>People</a>
      <button
        class="link"
        onClick=${() => {
          session.signOut();
          setSignedIn(false);
        }}
      >
        Sign out
      </button>
    </nav>
    <main>${pages[route.page](route)}</main>
  </div>`;
}

const root = document.getElementById('app');
if (root !== null) render(html`<${Shell} />`, root);
