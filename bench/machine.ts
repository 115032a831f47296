/**
 * The machine a benchmark ran on, so figures from different hosts are not compared blindly:
 * CPU, cores, RAM, Node, OS, and the disk under the benchmark's temp dir (Linux only; on other
 * systems the disk line says it is unknown).
 */
import {execFileSync} from 'node:child_process';
import {existsSync, readdirSync, readFileSync, realpathSync} from 'node:fs';
import {statfs} from 'node:fs/promises';
import {availableParallelism, cpus, loadavg, release, totalmem} from 'node:os';
import {basename, join} from 'node:path';

export interface Machine {
  cpu: string;
  cores: number;
  ramGiB: number;
  node: string;
  os: string;
  disk: string;
  tools: string;
}

export async function describeMachine(workDir: string): Promise<Machine> {
  const cpuModel = cpus()[0]?.model.trim() ?? 'unknown';
  const virtualized = readText('/proc/cpuinfo')?.includes(' hypervisor') === true;
  return {
    cpu: `${cpuModel}${virtualized ? ' (virtual machine: the CPU reports a hypervisor)' : ''}`,
    cores: availableParallelism(),
    ramGiB: totalmem() / 1024 ** 3,
    node: process.version,
    os: `${osName()} (kernel ${release()})`,
    disk: await describeDisk(workDir),
    tools: ['curl --version', 'tar --version', 'sha256sum --version'].map((command) => firstLine(command)).join('; '),
  };
}

export function machineMarkdown(machine: Machine): string {
  return [
    `- CPU: ${machine.cpu}, ${machine.cores} cores available to Node`,
    `- RAM: ${machine.ramGiB.toFixed(1)} GiB`,
    `- Node: ${machine.node}`,
    `- OS: ${machine.os}`,
    `- Disk under the temp dir: ${machine.disk}`,
    `- Baseline tools: ${machine.tools}`,
  ].join('\n');
}

/** Filesystem type from statfs, device and its rotational flag from /proc and /sys. */
async function describeDisk(workDir: string): Promise<string> {
  const fsType = FS_TYPES[(await statfs(workDir)).type] ?? 'unknown filesystem';
  const mount = mountOf(realpathSync(workDir));
  if (mount === undefined) return `${fsType} (device unknown)`;
  const device = mount.source.startsWith('/dev/') ? basename(mount.source) : undefined;
  if (device === undefined) return `${fsType} on ${mount.source} (mounted at ${mount.point}; no block device to inspect)`;
  const queue = blockQueueDir(device);
  const rotational = queue === undefined ? undefined : readText(join(queue, 'rotational'))?.trim();
  const model = readText(`/sys/class/block/${device}/device/model`)?.trim();
  const virtio = readText(`/sys/class/block/${device}/device/vendor`)?.trim() === '0x1af4' || device.startsWith('vd');
  const kind =
    rotational === undefined
      ? 'type unknown'
      : virtio
        ? `virtio virtual disk, kernel rotational flag ${rotational} (not meaningful for a virtual disk: the host's storage is unknown)`
        : rotational === '0'
          ? 'SSD/NVMe (rotational 0)'
          : 'rotational disk (rotational 1)';
  return `${fsType}${ext4Journal(fsType, device)} on /dev/${device}${model ? ` (${model})` : ''}, ${kind}`;
}

/**
 * Whether an ext4 filesystem has a journal (a jbd2 entry names its device). Without one, ext4
 * skips recently freed inodes with a slow scan, so creating many files soon after deleting
 * many is slow: worth knowing when reading the extraction figures.
 */
function ext4Journal(fsType: string, device: string): string {
  if (fsType !== 'ext4' || !existsSync(`/proc/fs/ext4/${device}`)) return '';
  const journals = existsSync('/proc/fs/jbd2') ? readdirSync('/proc/fs/jbd2') : [];
  return journals.some((name) => name.startsWith(`${device}-`)) ? ' (with a journal)' : ' (without a journal)';
}

/** The queue/ directory of a disk, or of the disk a partition belongs to. */
function blockQueueDir(device: string): string | undefined {
  for (const dir of [`/sys/class/block/${device}/queue`, `/sys/class/block/${device}/../queue`]) {
    if (readText(join(dir, 'rotational')) !== undefined) return dir;
  }
  return undefined;
}

/** The mount that holds `path` (the longest mount point that is a prefix of it), from /proc/self/mountinfo. */
function mountOf(path: string): {point: string; source: string} | undefined {
  const text = readText('/proc/self/mountinfo');
  if (text === undefined) return undefined;
  let best: {point: string; source: string} | undefined;
  for (const line of text.split('\n')) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> [optional…] - <fstype> <source> <super options>"
    const [left, right] = line.split(' - ');
    const point = left?.split(' ')[4];
    const source = right?.split(' ')[1];
    if (point === undefined || source === undefined) continue;
    const inside = path === point || path.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (inside && (best === undefined || point.length > best.point.length)) best = {point, source};
  }
  return best;
}

const FS_TYPES: Record<number, string> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0xf2f52010: 'f2fs',
};

function osName(): string {
  const pretty = readText('/etc/os-release')?.match(/^PRETTY_NAME="?([^"\n]*)"?$/m)?.[1];
  return pretty ?? process.platform;
}

function firstLine(command: string): string {
  const [file, ...args] = command.split(' ');
  try {
    const line = execFileSync(file!, args, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).split('\n')[0]!;
    return line.replace(/ \([^)]*-linux-[^)]*\).*$/, '').trim(); // curl appends its platform and every library
  } catch {
    return `${file} (not found)`;
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined; // not Linux, or no such device attribute: the caller says "unknown"
  }
}

/** CPU seconds the whole machine spent busy since boot (all cores), from /proc/stat; undefined off Linux. */
export function machineBusySeconds(): number | undefined {
  const fields = readText('/proc/stat')?.split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number);
  if (fields === undefined || fields.length < 5) return undefined;
  // user nice system idle iowait irq softirq steal …: busy is everything but idle and iowait.
  const busy = fields.reduce((sum, value, i) => (i === 3 || i === 4 ? sum : sum + value), 0);
  return busy / 100; // USER_HZ is 100 on Linux
}

/**
 * Other work on the machine skews every figure, so the report says how much there was: the
 * machine's busy CPU time over the run, minus what the benchmark and the commands it measured
 * used (their CPU time as GNU time reports it).
 */
export class LoadWatch {
  private readonly loadBefore = loadavg()[0] ?? 0;
  private readonly busyBefore = machineBusySeconds();
  private readonly cpuBefore = process.cpuUsage();
  private readonly startedAt = Date.now();

  describe(childCpuSeconds: number, cores: number): string {
    const load = `Load average (1 min) at the start: ${this.loadBefore.toFixed(2)}`;
    const busyAfter = machineBusySeconds();
    if (this.busyBefore === undefined || busyAfter === undefined || childCpuSeconds === 0) return load;
    const self = process.cpuUsage(this.cpuBefore);
    const other = Math.max(0, busyAfter - this.busyBefore - childCpuSeconds - (self.user + self.system) / 1e6);
    const share = (100 * other) / (((Date.now() - this.startedAt) / 1000) * cores);
    return (
      `${load}. During the run, CPU time not spent by the benchmark or the commands it measured ` +
      `(other processes, and kernel threads such as writeback): ${other.toFixed(0)} CPU-seconds, ${share.toFixed(0)} % of the machine` +
      (share > 10 ? '. The machine was shared: treat the times as noisy' : '')
    );
  }
}
