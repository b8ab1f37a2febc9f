// Lint rules: typed TypeScript rules everywhere, and the purity rule for actors/ (machines do no I/O).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.infra/**',
      '.joinery/**',
      'coverage/**',
      'dist/**',
      'viewer/dist/**',
      '.dependency-cruiser.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      // Fastify plugins and kafkajs handlers are async by contract, awaiting or not.
      '@typescript-eslint/require-await': 'off',
      // Flags MikroORM.init(), whose driver-specific subclass is the documented result.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' },
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read the environment only in src/config (configuration is typed and passed in).',
        },
      ],
    },
  },
  {
    files: [
      'src/config/**',
      'src/cli/**',
      'agent/src/main.ts',
      'src/infra/**',
      'test/**',
      'src/storage/orm.config.ts',
      '*.ts',
      '*.js',
    ],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' },
      ],
    },
  },
  {
    files: ['*.config.ts', '*.config.js', 'src/storage/orm.config.ts', 'migrations/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['actors/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'Machines are pure: do I/O in streams/ or src/.' },
            {
              group: [
                'kafkajs',
                'ldapts',
                '@mikro-orm/*',
                'ws',
                'fastify',
                'pino',
                '**/src/**',
                '**/streams/**',
              ],
              message: 'Machines are pure: do I/O in streams/ or src/.',
            },
          ],
        },
      ],
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
