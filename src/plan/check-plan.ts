// What the schema cannot say about a sync plan: names that must be unique, attributes that must exist
// where they are referenced, mappers that need exactly one source, and expressions that must compile and
// have the right type. Pure: a plan in, a list of problems (each with its path) out, plus the compiled
// expressions when there are none.
import { noPlugins, type PluginSet } from './plugins.ts';
import { Environment } from '@marcbachmann/cel-js';
import { exportClassOf, type ApplicationPlan, type AttributeSpec, type SyncPlan } from './plan.schema.ts';
import { cronProblem } from './cron.ts';
import { csvSettingsProblems } from '../connectors/csv/csv-settings.ts';
import { scimSettingsProblems } from '../connectors/scim/scim-settings.ts';
import { externalConnectorProblems } from '../connectors/connector.ts';
import {
  budgetEnvironment,
  compileExpression,
  EXPRESSION_LIMITS,
  ExpressionBudget,
  expressionDepth,
  staticCostProblems,
  type CompiledExpression,
} from './expression-budget.ts';

/** How large a plan may be (its expressions' length is limited by the schema, ExpressionSchema). */
export const PLAN_LIMITS = {
  /** The plan's text, in bytes. */
  bytes: 1024 * 1024,
  applications: 200,
  expressions: 2_000,
} as const;

export type PlanPath = (string | number)[];

export interface PlanProblem {
  path: PlanPath;
  message: string;
}

export interface CompiledPlan {
  plan: SyncPlan;
  /**
   * Every expression of the plan, compiled once, by its path (e.g. applications[0].filters.import). Each
   * evaluates under the expression budget (expression-budget.ts) and throws ExpressionBudgetError over it.
   */
  expressions: Map<string, CompiledExpression>;
}

/** A record's own entry: a name like `constructor` must not find what every object inherits. */
function ownEntry<T>(record: Record<string, T>, name: string): T | undefined {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

/**
 * Names every JavaScript object already has (`constructor`, `toString`, …): an attribute or object class so
 * named would be found in every record that lacks it, so the plan refuses them.
 */
const inheritedNames = new Set(Object.getOwnPropertyNames(Object.prototype));

export function pathText(path: PlanPath): string {
  return path
    .map((part, index) => (typeof part === 'number' ? `[${String(part)}]` : index === 0 ? part : `.${part}`))
    .join('');
}

const celType = (spec: AttributeSpec): string => {
  const scalar = {
    string: 'string',
    int: 'int',
    bool: 'bool',
    double: 'double',
    bytes: 'bytes',
    timestamp: 'google.protobuf.Timestamp',
  }[spec.type ?? 'string'];
  return spec.multiValued === true ? `list<${scalar}>` : scalar;
};

function applicationAttributes(
  application: ApplicationPlan,
): Map<string, AttributeSpec & { direction: string }> {
  const attributes = new Map<string, AttributeSpec & { direction: string }>();
  for (const objectClass of Object.values(application.objectClasses)) {
    for (const [name, spec] of Object.entries(objectClass.attributes))
      attributes.set(name, { ...spec, direction: spec.direction ?? 'in' });
  }
  return attributes;
}

function known(names: Iterable<string>): string {
  const list = [...names].sort();
  return list.length === 0
    ? 'none declared'
    : `known: ${list.slice(0, 12).join(', ')}${list.length > 12 ? ', …' : ''}`;
}

/**
 * Validates a plan beyond its schema and compiles its expressions, with the plugins' functions callable.
 * `staticLimits: false` skips the size and static cost limits: a stored plan applied before they existed
 * still runs, each evaluation under the budget.
 */
export function checkPlan(
  plan: SyncPlan,
  plugins: PluginSet = noPlugins,
  options: { staticLimits?: boolean } = {},
): { problems: PlanProblem[]; compiled?: CompiledPlan } {
  const staticLimits = options.staticLimits ?? true;
  const problems: PlanProblem[] = [];
  const expressions = new Map<string, CompiledExpression>();
  const budget = new ExpressionBudget();
  const budgeted = new WeakSet<Environment>();
  if (staticLimits && plan.applications.length > PLAN_LIMITS.applications)
    problems.push({
      path: ['applications'],
      message: `${String(plan.applications.length)} applications, the limit is ${String(PLAN_LIMITS.applications)}`,
    });
  const vault = new Map(Object.entries(plan.vault.attributes));
  const refuseInherited = (path: PlanPath, what: string, names: Iterable<string>): void => {
    for (const name of names)
      if (inheritedNames.has(name))
        problems.push({
          path: [...path, name],
          message: `${what} "${name}" has the name of a property every JavaScript object has; rename it`,
        });
  };
  refuseInherited(['vault', 'attributes'], 'Vault attribute', vault.keys());
  plan.applications.forEach((application, a) => {
    for (const [className, objectClass] of Object.entries(application.objectClasses)) {
      const classPath = ['applications', a, 'objectClasses'];
      refuseInherited(classPath, 'object class', [className]);
      refuseInherited(
        [...classPath, className, 'attributes'],
        'attribute',
        Object.keys(objectClass.attributes),
      );
    }
  });
  // Sensitive attributes are sealed wherever Joinery stores them (src/secrets/): expressions cannot read
  // them, so they are not in the environments' schemas, and a mention is refused with its reason first.
  const vaultSchema = Object.fromEntries(
    [...vault].filter(([, spec]) => spec.sensitive !== true).map(([name, spec]) => [name, celType(spec)]),
  );
  const sensitiveVault = new Set(
    [...vault].filter(([, spec]) => spec.sensitive === true).map(([name]) => name),
  );
  const sensitiveIdentity = { variable: 'identity', names: sensitiveVault };

  /** Compiles an expression in an environment and checks its result type. */
  const compile = (
    path: PlanPath,
    expression: string,
    env: Environment,
    expected?: string,
    sensitive?: { variable: string; names: ReadonlySet<string> },
  ): void => {
    const mentioned = sensitive && sensitiveMention(expression, sensitive.variable, sensitive.names);
    if (mentioned !== undefined) {
      problems.push({
        path,
        message: `expression reads ${sensitive?.variable ?? ''}.${mentioned}, a sensitive attribute: its values are sealed, so only a mapper's "from" can carry it`,
      });
      return;
    }
    const depth = staticLimits ? expressionDepth(env, expression) : undefined;
    if (depth !== undefined && depth > EXPRESSION_LIMITS.depth) {
      problems.push({
        path,
        message: `expression nests ${String(depth)} levels deep (operators, calls, lists), the limit is ${String(EXPRESSION_LIMITS.depth)}: split it into rules or mappers`,
      });
      return;
    }
    const checked = env.check(expression);
    if (!checked.valid) {
      const reason = (checked.error?.message ?? 'invalid').split('\n')[0] ?? 'invalid';
      problems.push({
        path,
        message: `expression ${JSON.stringify(expression)} does not compile: ${reason}`,
      });
      return;
    }
    if (expected !== undefined && checked.type !== expected && checked.type !== 'dyn') {
      problems.push({
        path,
        message: `expression ${JSON.stringify(expression)} is ${String(checked.type)}, expected ${expected}`,
      });
      return;
    }
    if (staticLimits)
      for (const message of staticCostProblems(env, expression)) problems.push({ path, message });
    if (!budgeted.has(env)) {
      budgetEnvironment(env, budget);
      budgeted.add(env);
    }
    expressions.set(pathText(path), compileExpression(env, budget, pathText(path), expression));
  };
  const identityEnv = plugins.install(new Environment({ unlistedVariablesAreDyn: false })).registerVariable({
    name: 'identity',
    schema: vaultSchema,
  });

  const names = new Set<string>();
  plan.applications.forEach((application, a) => {
    const at = (...rest: PlanPath): PlanPath => ['applications', a, ...rest];
    if (names.has(application.name))
      problems.push({ path: at('name'), message: `application "${application.name}" is declared twice` });
    names.add(application.name);
    const attributes = applicationAttributes(application);
    const sourceEnv = plugins.install(new Environment({ unlistedVariablesAreDyn: false })).registerVariable({
      name: 'source',
      schema: Object.fromEntries(
        [...attributes]
          .filter(([, spec]) => spec.sensitive !== true)
          .map(([name, spec]) => [name, celType(spec)]),
      ),
    });
    const sensitiveSource = {
      variable: 'source',
      names: new Set([...attributes].filter(([, spec]) => spec.sensitive === true).map(([name]) => name)),
    };
    const compileSource = (path: PlanPath, expression: string, expected?: string): void => {
      compile(path, expression, sourceEnv, expected, sensitiveSource);
    };
    const compileIdentity = (path: PlanPath, expression: string, expected?: string): void => {
      compile(path, expression, identityEnv, expected, sensitiveIdentity);
    };
    /** A sensitive value moves only by `from:`, between attributes both sensitive: sealed, it stays sealed. */
    const sensitiveCopy = (
      path: PlanPath,
      from: { name: string; sensitive: boolean; what: string } | undefined,
      to: { name: string; sensitive: boolean; what: string },
    ): void => {
      if (from === undefined) {
        if (to.sensitive)
          problems.push({
            path,
            message: `${to.what} "${to.name}" is sensitive: it can only be fed by "from" a sensitive attribute, not by an expression`,
          });
      } else if (from.sensitive !== to.sensitive) {
        const [sensitive, plain] = from.sensitive ? [from, to] : [to, from];
        problems.push({
          path,
          message: `${sensitive.what} "${sensitive.name}" is sensitive and ${plain.what} "${plain.name}" is not: mark both sensitive, so the value stays sealed`,
        });
      }
    };
    const appAttribute = (path: PlanPath, name: string, directions: string[]): void => {
      const spec = attributes.get(name);
      if (spec === undefined) {
        problems.push({
          path,
          message: `unknown attribute "${name}" of application ${application.name} (${known(attributes.keys())})`,
        });
      } else if (!directions.includes(spec.direction)) {
        problems.push({
          path,
          message: `attribute "${name}" of application ${application.name} has direction ${spec.direction}; this needs ${directions.join(' or ')}`,
        });
      }
    };
    const vaultAttribute = (path: PlanPath, name: string): void => {
      if (!vault.has(name))
        problems.push({ path, message: `unknown Vault attribute "${name}" (${known(vault.keys())})` });
    };

    application.joining?.forEach((rule, r) => {
      if (rule.all === undefined && rule.any === undefined) {
        problems.push({
          path: at('joining', r),
          message: `joining rule "${rule.name}" needs "all" or "any" comparisons`,
        });
      }
      for (const kind of ['all', 'any'] as const) {
        rule[kind]?.forEach((match, m) => {
          appAttribute(at('joining', r, kind, m, 'source'), match.source, ['in', 'both']);
          vaultAttribute(at('joining', r, kind, m, 'vault'), match.vault);
          const sensitive =
            attributes.get(match.source)?.sensitive === true
              ? match.source
              : sensitiveVault.has(match.vault)
                ? match.vault
                : undefined;
          if (sensitive !== undefined)
            problems.push({
              path: at('joining', r, kind, m),
              message: `joining rule "${rule.name}" compares "${sensitive}", a sensitive attribute: its values are sealed, join on another attribute`,
            });
        });
      }
    });
    application.inbound?.forEach((mapper, m) => {
      vaultAttribute(at('inbound', m, 'vault'), mapper.vault);
      if ((mapper.from === undefined) === (mapper.expression === undefined)) {
        problems.push({
          path: at('inbound', m),
          message: 'a mapper needs exactly one of "from" and "expression"',
        });
      }
      if (mapper.from !== undefined) appAttribute(at('inbound', m, 'from'), mapper.from, ['in', 'both']);
      const target = vault.get(mapper.vault);
      if (mapper.expression !== undefined)
        compileSource(at('inbound', m, 'expression'), mapper.expression, target && celType(target));
      if (target !== undefined)
        sensitiveCopy(
          at('inbound', m),
          mapper.from === undefined
            ? undefined
            : {
                name: mapper.from,
                sensitive: attributes.get(mapper.from)?.sensitive === true,
                what: `attribute`,
              },
          { name: mapper.vault, sensitive: target.sensitive === true, what: 'Vault attribute' },
        );
    });
    application.outbound?.forEach((mapper, m) => {
      appAttribute(at('outbound', m, 'target'), mapper.target, ['out', 'both']);
      if ((mapper.from === undefined) === (mapper.expression === undefined)) {
        problems.push({
          path: at('outbound', m),
          message: 'a mapper needs exactly one of "from" and "expression"',
        });
      }
      if (mapper.from !== undefined) vaultAttribute(at('outbound', m, 'from'), mapper.from);
      const target = attributes.get(mapper.target);
      if (mapper.expression !== undefined)
        compileIdentity(at('outbound', m, 'expression'), mapper.expression, target && celType(target));
      if (target !== undefined)
        sensitiveCopy(
          at('outbound', m),
          mapper.from === undefined
            ? undefined
            : { name: mapper.from, sensitive: sensitiveVault.has(mapper.from), what: 'Vault attribute' },
          { name: mapper.target, sensitive: target.sensitive === true, what: 'attribute' },
        );
    });
    const filters = application.filters ?? {};
    if (filters.import !== undefined) compileSource(at('filters', 'import'), filters.import, 'bool');
    if (filters.inbound !== undefined) compileSource(at('filters', 'inbound'), filters.inbound, 'bool');
    if (filters.outbound !== undefined) compileIdentity(at('filters', 'outbound'), filters.outbound, 'bool');
    if (application.lifecycle?.status !== undefined)
      compileSource(at('lifecycle', 'status'), application.lifecycle.status, 'string');
    for (const [className, objectClass] of Object.entries(application.objectClasses)) {
      const classPath = at('objectClasses', className);
      if (objectClass.kind === 'group' && objectClass.members === undefined)
        problems.push({
          path: [...classPath, 'members'],
          message: `object class "${className}" of kind group needs "members": the attribute holding its member references`,
        });
      else if (objectClass.members !== undefined && objectClass.kind !== 'group')
        problems.push({
          path: [...classPath, 'members'],
          message: `"members" needs kind group (object class "${className}" is of kind ${objectClass.kind ?? 'user'})`,
        });
      else if (objectClass.members !== undefined && !(objectClass.members in objectClass.attributes))
        problems.push({
          path: [...classPath, 'members'],
          message: `unknown attribute "${objectClass.members}" of object class ${className} (${known(Object.keys(objectClass.attributes))})`,
        });
    }
    const exportClass = application.export?.objectClass;
    if (exportClass !== undefined && !Object.hasOwn(application.objectClasses, exportClass))
      problems.push({
        path: at('export', 'objectClass'),
        message: `unknown object class "${exportClass}" of application ${application.name} (${known(Object.keys(application.objectClasses))})`,
      });
    // Identities are written with one class (exportClassOf): the outbound mappers must target its
    // attributes, and it cannot be a group class (groups have export.groups).
    const writtenAs = exportClassOf(application);
    const written = writtenAs === undefined ? undefined : ownEntry(application.objectClasses, writtenAs);
    if (writtenAs !== undefined && written !== undefined && (application.outbound?.length ?? 0) > 0) {
      if (written.kind === 'group')
        problems.push({
          path: exportClass === undefined ? at('objectClasses', writtenAs) : at('export', 'objectClass'),
          message: `identities are written to application ${application.name} as "${writtenAs}", a group class; name a user or contact class in export.objectClass (groups are exported with export.groups)`,
        });
      application.outbound?.forEach((mapper, m) => {
        if (attributes.has(mapper.target) && !Object.hasOwn(written.attributes, mapper.target))
          problems.push({
            path: at('outbound', m, 'target'),
            message: `attribute "${mapper.target}" is not one of object class ${writtenAs}, the class identities are written to application ${application.name} as (${known(Object.keys(written.attributes))})`,
          });
      });
    }
    for (const problem of csvSettingsProblems(application))
      problems.push({ path: at('csv', ...problem.path), message: problem.message });
    for (const problem of scimSettingsProblems(application))
      problems.push({ path: at('scim', ...problem.path), message: problem.message });
    for (const problem of externalConnectorProblems(application))
      problems.push({ path: at(...problem.path), message: problem.message });
    application.schedules?.forEach((schedule, s) => {
      if ((schedule.everyMinutes === undefined) === (schedule.cron === undefined))
        problems.push({
          path: at('schedules', s),
          message: 'a schedule needs exactly one of "everyMinutes" and "cron"',
        });
      else if (schedule.cron !== undefined) {
        const problem = cronProblem(schedule.cron);
        if (problem !== undefined) problems.push({ path: at('schedules', s, 'cron'), message: problem });
      }
    });
    const classificationValues = new Set((plan.classifications ?? []).map((c) => c.value));
    application.classifications?.forEach((value, c) => {
      if (!classificationValues.has(value))
        problems.push({
          path: at('classifications', c),
          message: `no classification has value ${String(value)}`,
        });
    });
  });

  plan.applications.forEach((application, a) => {
    checkGroupExport(
      plan,
      application,
      ['applications', a, 'export', 'groups'],
      problems,
      (path, expression, env, expected) => {
        compile(path, expression, plugins.install(env), expected);
      },
    );
  });

  const values = new Set<number>();
  plan.classifications?.forEach((classification, c) => {
    if (values.has(classification.value))
      problems.push({
        path: ['classifications', c, 'value'],
        message: `classification value ${String(classification.value)} is declared twice`,
      });
    values.add(classification.value);
    compile(['classifications', c, 'when'], classification.when, identityEnv, 'bool', sensitiveIdentity);
  });
  plan.rules?.forEach((rule, r) => {
    compile(['rules', r, 'when'], rule.when, identityEnv, 'bool', sensitiveIdentity);
    for (const [attribute, expression] of Object.entries(rule.set)) {
      const spec = vault.get(attribute);
      if (spec === undefined)
        problems.push({
          path: ['rules', r, 'set', attribute],
          message: `unknown Vault attribute "${attribute}" (${known(vault.keys())})`,
        });
      if (spec?.sensitive === true)
        problems.push({
          path: ['rules', r, 'set', attribute],
          message: `Vault attribute "${attribute}" is sensitive: it can only be fed by "from" a sensitive attribute, not by a rule`,
        });
      else
        compile(
          ['rules', r, 'set', attribute],
          expression,
          identityEnv,
          spec && celType(spec),
          sensitiveIdentity,
        );
    }
  });

  if (staticLimits && expressions.size > PLAN_LIMITS.expressions)
    problems.push({
      path: [],
      message: `${String(expressions.size)} expressions, the limit is ${String(PLAN_LIMITS.expressions)}`,
    });
  return problems.length > 0 ? { problems } : { problems, compiled: { plan, expressions } };
}

/** The first of `names` an expression reads from `variable` (`source.ssn`, `source["ssn"]`), if any. */
function sensitiveMention(
  expression: string,
  variable: string,
  names: ReadonlySet<string>,
): string | undefined {
  if (names.size === 0 || !expression.includes(variable)) return undefined;
  const pattern = new RegExp(
    `\\b${variable}\\s*(?:\\.\\s*([A-Za-z_][A-Za-z0-9_]*)|\\[\\s*["']([^"']*)["']\\s*\\])`,
    'g',
  );
  for (const match of expression.matchAll(pattern)) {
    const name = match[1] ?? match[2];
    if (name !== undefined && names.has(name)) return name;
  }
  return undefined;
}

/** The object classes of kind group of an application, by name. */
export function groupClasses(application: ApplicationPlan): Map<string, { members: string }> {
  return new Map(
    Object.entries(application.objectClasses).flatMap(([name, objectClass]) =>
      objectClass.kind === 'group' && objectClass.members !== undefined
        ? [[name, { members: objectClass.members }] as const]
        : [],
    ),
  );
}

/**
 * An application that receives groups: its group class must be of kind group, the applications it takes
 * groups from must exist and have a group class, and its attribute expressions compile over `group` (the
 * attributes of the source applications' group classes).
 */
function checkGroupExport(
  plan: SyncPlan,
  application: ApplicationPlan,
  at: PlanPath,
  problems: PlanProblem[],
  compile: (path: PlanPath, expression: string, env: Environment, expected?: string) => void,
): void {
  const groups = application.export?.groups;
  if (groups === undefined) return;
  const targetClass = ownEntry(application.objectClasses, groups.objectClass);
  if (targetClass === undefined)
    problems.push({
      path: [...at, 'objectClass'],
      message: `unknown object class "${groups.objectClass}" of application ${application.name} (${known(Object.keys(application.objectClasses))})`,
    });
  else if (targetClass.kind !== 'group')
    problems.push({
      path: [...at, 'objectClass'],
      message: `object class "${groups.objectClass}" of application ${application.name} is of kind ${targetClass.kind ?? 'user'}; groups need kind group`,
    });
  const sourceAttributes: Record<string, string> = {};
  groups.from.forEach((name, f) => {
    const source = plan.applications.find((candidate) => candidate.name === name);
    if (source === undefined) {
      problems.push({
        path: [...at, 'from', f],
        message: `unknown application "${name}" (${known(plan.applications.map((candidate) => candidate.name))})`,
      });
      return;
    }
    // Every class of kind group, with or without its members attribute (a missing one is reported there).
    const classes = Object.values(source.objectClasses).filter((objectClass) => objectClass.kind === 'group');
    if (classes.length === 0)
      problems.push({
        path: [...at, 'from', f],
        message: `application ${name} declares no object class of kind group`,
      });
    for (const objectClass of classes)
      for (const [attribute, spec] of Object.entries(objectClass.attributes))
        sourceAttributes[attribute] ??= celType(spec);
  });
  for (const [attribute, expression] of Object.entries(groups.attributes ?? {})) {
    const spec = targetClass === undefined ? undefined : ownEntry(targetClass.attributes, attribute);
    if (targetClass !== undefined && spec === undefined)
      problems.push({
        path: [...at, 'attributes', attribute],
        message: `unknown attribute "${attribute}" of object class ${groups.objectClass} (${known(Object.keys(targetClass.attributes))})`,
      });
    else if (spec !== undefined && (spec.direction ?? 'in') === 'in')
      problems.push({
        path: [...at, 'attributes', attribute],
        message: `attribute "${attribute}" of object class ${groups.objectClass} has direction in; this needs out or both`,
      });
    compile(
      [...at, 'attributes', attribute],
      expression,
      new Environment({ unlistedVariablesAreDyn: false }).registerVariable({
        name: 'group',
        schema: sourceAttributes,
      }),
      spec && celType(spec),
    );
  }
}
