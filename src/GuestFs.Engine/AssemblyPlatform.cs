// GuestFs drives qemu and Unix sockets: it runs on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
