export * from './duration';
export * from './load';
export * from './rules';
export * from './schedule';
export * from './schema';
