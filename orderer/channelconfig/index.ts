// Channel configuration: typed settings parsed from a config (settings.ts), a
// genesis config builder for new channels (build.ts), Go durations (duration.ts).
export * from './settings';
export * from './build';
export * from './duration';
