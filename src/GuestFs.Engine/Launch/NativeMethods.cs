using System.Runtime.InteropServices;

namespace GuestFs.Engine.Launch;

internal static class NativeMethods
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    public static extern int Kill(int pid, int signal);

    [DllImport("libc", EntryPoint = "geteuid")]
    public static extern uint GetEuid();

    // fcntl's open-file-description locks, as qemu's file driver takes them (x86_64/aarch64 values).
    public const int F_OFD_GETLK = 36;
    public const short F_RDLCK = 0;
    public const short F_WRLCK = 1;
    public const short F_UNLCK = 2;

    [StructLayout(LayoutKind.Sequential)]
    public struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Len;
        public int Pid;
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "fcntl")]
    public static extern int Fcntl(int fd, int cmd, ref Flock lk);
}
