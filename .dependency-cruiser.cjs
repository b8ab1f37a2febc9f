// Which folder may import which (docs/architecture.md, "Who imports whom"), and no import cycles.
// Checked by `npm run check` (depcruise); a violation names the two files and the rule.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A module and what it imports must not import it back, through any path.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'kernel-stands-alone',
      severity: 'error',
      comment:
        'kernel/ (errors, retry, logging, message contracts, channel protocol and sealing) is shared by the service and the agent: it imports nothing of theirs.',
      from: { path: '^kernel/' },
      to: { path: '^(src|streams|actors|agent|test)/' },
    },
    {
      name: 'actors-are-pure',
      severity: 'error',
      comment: 'actors/ decides: it uses the message contracts and nothing that moves data.',
      from: { path: '^actors/' },
      to: { path: '^(src|streams|agent|test)/|^kernel/(?!contracts/)' },
    },
    {
      name: 'streams-move-events',
      severity: 'error',
      comment:
        'streams/ moves events and hosts actors: it uses actors/ and kernel/, never the service (src/).',
      from: { path: '^streams/' },
      to: { path: '^(src|agent|test)/' },
    },
    {
      name: 'agent-ships-alone',
      severity: 'error',
      comment:
        'agent/ is installed on its own next to a directory: it uses kernel/ and nothing of the service.',
      from: { path: '^agent/' },
      to: { path: '^(src|streams|actors|test)/' },
    },
    {
      name: 'service-does-not-embed-the-agent',
      severity: 'error',
      comment: 'src/ talks to agents over the channel (kernel/channel), never by importing agent/.',
      from: { path: '^(src|streams|actors|kernel|migrations)/' },
      to: { path: '^agent/' },
    },
    {
      name: 'only-tests-import-tests',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|\\.infra|\\.joinery|docs/benchmarks)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
