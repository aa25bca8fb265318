// The npm start launcher's argument rules and the reason line it prints for a node that stopped.
import path from 'node:path';
import { DEVNET_ADMIN_PORT_BASE, DEVNET_OPERATIONS_PORT_BASE, devnetAdminPorts, devnetOperationsPorts, parseDevnetArgs, UsageError } from '../../cmd/devnet';
import { reasonFromLog } from '../../cmd/exit-reason';

describe('parseDevnetArgs', () => {
  test('--dir without a value is an error, never the current directory', () => {
    expect(() => parseDevnetArgs(['--fresh', '--dir'])).toThrow(new UsageError('--dir needs a directory'));
    expect(() => parseDevnetArgs(['--dir', ''])).toThrow(UsageError);
    expect(() => parseDevnetArgs(['--dir', '--fresh'])).toThrow(/--dir needs a directory/);
    expect(() => parseDevnetArgs(['--dir='])).toThrow(/--dir needs a directory/);
  });

  test('values are taken as given; defaults otherwise', () => {
    expect(parseDevnetArgs([])).toEqual({ fresh: false, dataDir: path.resolve('data', 'devnet'), logLevel: 'info', ports: undefined, adminPorts: undefined, operationsPorts: undefined });
    expect(parseDevnetArgs(['--fresh', '--dir', 'x/y', '--ports', '1,2', '--admin-ports', '3,4', '--operations-ports', '5,6', '--log-level', 'debug'])).toEqual({
      fresh: true,
      dataDir: path.resolve('x/y'),
      logLevel: 'debug',
      ports: [1, 2],
      adminPorts: [3, 4],
      operationsPorts: [5, 6],
    });
    expect(parseDevnetArgs(['--dir=z', '--ports=5,6,7'])).toMatchObject({ dataDir: path.resolve('z'), ports: [5, 6, 7] });
    expect(parseDevnetArgs(['--help'])).toBeUndefined();
  });

  test('a relative --dir is taken from where npm start was typed (INIT_CWD), not the package root', () => {
    const before = process.env['INIT_CWD'];
    process.env['INIT_CWD'] = '/somewhere/docs';
    try {
      expect(parseDevnetArgs(['--dir', 'rel'])?.dataDir).toBe('/somewhere/docs/rel');
      expect(parseDevnetArgs(['--dir', '/abs/x'])?.dataDir).toBe('/abs/x');
    } finally {
      if (before === undefined) delete process.env['INIT_CWD'];
      else process.env['INIT_CWD'] = before;
    }
  });

  test('bad ports, levels and unknown flags are errors', () => {
    expect(() => parseDevnetArgs(['--ports'])).toThrow(/--ports needs/);
    expect(() => parseDevnetArgs(['--ports', '1,x'])).toThrow(/comma-separated port numbers/);
    expect(() => parseDevnetArgs(['--ports', '70000'])).toThrow(/comma-separated port numbers/);
    expect(() => parseDevnetArgs(['--ports', '7050,7050'])).toThrow(/a port twice/);
    expect(() => parseDevnetArgs(['--log-level', 'loud'])).toThrow(/--log-level must be one of/);
    expect(() => parseDevnetArgs(['--frsh'])).toThrow(/unknown argument "--frsh"/);
    expect(() => parseDevnetArgs(['--admin-ports'])).toThrow(/--admin-ports needs/);
    expect(() => parseDevnetArgs(['--admin-ports', '9443,x'])).toThrow(/--admin-ports takes comma-separated port numbers/);
    expect(() => parseDevnetArgs(['--ports', '1,2,3', '--admin-ports', '4,5'])).toThrow(/one port per node: 3 client ports, 2 Admin ports/);
    expect(() => parseDevnetArgs(['--ports', '1,2,3', '--admin-ports', '4,5,1'])).toThrow(/share 1/);
  });
});

describe('devnetAdminPorts', () => {
  test('default: one per node from 9443 up, following the client ports', () => {
    expect(DEVNET_ADMIN_PORT_BASE).toBe(9443);
    expect(devnetAdminPorts([7050, 8050, 9050], undefined)).toEqual([9443, 9444, 9445]);
    expect(devnetAdminPorts([1, 2, 3, 4], undefined)).toEqual([9443, 9444, 9445, 9446]);
    expect(devnetAdminPorts([1, 2, 3], [11, 12, 13])).toEqual([11, 12, 13]);
  });

  test('a count other than the nodes\' (a stored network fixes it) or a port shared with a client port is refused', () => {
    expect(() => devnetAdminPorts([1, 2, 3], [11, 12])).toThrow(/the network has 3 nodes, 2 Admin ports given/);
    expect(() => devnetAdminPorts([9444, 2, 3], undefined)).toThrow(/Admin port 9444 is also a client or Admin port/);
  });
});

describe('devnetOperationsPorts', () => {
  test('default: one per node from 8443 up; apart from the client and Admin ports', () => {
    expect(DEVNET_OPERATIONS_PORT_BASE).toBe(8443);
    expect(devnetOperationsPorts([7050, 8050, 9050], [9443, 9444, 9445], undefined)).toEqual([8443, 8444, 8445]);
    expect(devnetOperationsPorts([1, 2], [3, 4], [5, 6])).toEqual([5, 6]);
    expect(() => devnetOperationsPorts([1, 2], [3, 4], [5])).toThrow(/--operations-ports needs one port per node: the network has 2 nodes, 1 operations ports given/);
    expect(() => devnetOperationsPorts([1, 2], [3, 4], [3, 6])).toThrow(/operations port 3 is also a client or Admin port of the network \(1,2,3,4\)/);
  });
});

describe('reasonFromLog', () => {
  const line = (o: object): string => JSON.stringify({ time: 1, pid: 9, ...o });

  test('the last error a node logged, with its error message', () => {
    const log = [
      line({ level: 30, msg: 'starting' }),
      line({ level: 50, msg: 'orderer failed to start', err: { type: 'Error', message: 'this node (127.0.0.1:7050) is not a consenter of mychannel' } }),
      line({ level: 30, msg: 'orderer stopped' }),
    ].join('\n');
    expect(reasonFromLog(log)).toBe('orderer failed to start: this node (127.0.0.1:7050) is not a consenter of mychannel');
  });

  test('a crash Node printed after the logs wins over an older logged error', () => {
    const log = [
      line({ level: 50, msg: 'old trouble' }),
      '/x/dist/cmd/orderer.js:10',
      '    throw err;',
      '    ^',
      '',
      'Error: listen EADDRINUSE: address already in use 127.0.0.1:7050',
      '    at Server.setupListenHandle (node:net:1817:16)',
      '',
      'Node.js v20.20.2',
    ].join('\n');
    expect(reasonFromLog(log)).toBe('Error: listen EADDRINUSE: address already in use 127.0.0.1:7050');
  });

  test('no error at all gives undefined; info and warn lines are not reasons', () => {
    expect(reasonFromLog([line({ level: 30, msg: 'a' }), line({ level: 40, msg: 'b' }), '{broken json'].join('\n'))).toBeUndefined();
    expect(reasonFromLog('')).toBeUndefined();
  });
});
