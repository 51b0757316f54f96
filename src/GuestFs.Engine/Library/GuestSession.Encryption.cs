using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Security;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Xdr;

namespace GuestFs.Engine.Session;

/// <summary>The outcome of unlocking one encrypted device.</summary>
public sealed record GuestUnlockResult(string Device, string MapperDevice, string? Error)
{
    public bool Unlocked => Error is null;
}

public sealed partial class GuestSession
{
    /// <summary>
    /// Opens one LUKS (or BitLocker, as cryptsetup knows it) device with a
    /// passphrase and returns the decrypted device (/dev/mapper/luks-sda2). If it
    /// is open already its mapper device is returned without asking again.
    /// The passphrase goes to the daemon as the key argument of cryptsetup_open,
    /// written straight from a pinned buffer that is wiped afterwards; it is never
    /// a .NET string, never traced, and a daemon message that happened to contain
    /// it would be masked before it reaches an exception.
    /// </summary>
    public async Task<string> UnlockAsync(string device, SecureString passphrase, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(device);
        ArgumentNullException.ThrowIfNull(passphrase);
        string mapName = MapNameFor(device);
        string mapper = "/dev/mapper/" + mapName;
        var open = await ListDmDevicesAsync(cancellationToken).ConfigureAwait(false);
        if (open.Contains(mapper, StringComparer.Ordinal)) return mapper;
        await CryptsetupOpenSecretAsync(device, passphrase, mapName, cancellationToken).ConfigureAwait(false);
        return mapper;
    }

    /// <summary>
    /// Tries the passphrase on every encrypted device the daemon sees (vfs_type
    /// crypto_LUKS or BitLocker), then activates LVM volume groups so logical
    /// volumes inside them appear — what guestfish --key/--keys-from-stdin does.
    /// A device the passphrase does not open is reported in the result, not thrown.
    /// </summary>
    public async Task<GuestUnlockResult[]> UnlockEncryptedDevicesAsync(SecureString passphrase, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(passphrase);
        var results = new List<GuestUnlockResult>();
        foreach (var (device, _) in await ListEncryptedDevicesAsync(cancellationToken).ConfigureAwait(false))
        {
            string mapper = "/dev/mapper/" + MapNameFor(device);
            try
            {
                await UnlockAsync(device, passphrase, cancellationToken).ConfigureAwait(false);
                results.Add(new GuestUnlockResult(device, mapper, null));
            }
            catch (GuestFsException e) when (e is not GuestFsProtocolException)
            {
                results.Add(new GuestUnlockResult(device, mapper, e.Message));
            }
        }
        if (results.Any(r => r.Unlocked)) await ActivateVolumeGroupsAsync(cancellationToken).ConfigureAwait(false);
        return results.ToArray();
    }

    /// <summary>
    /// The whole disks, partitions and logical volumes holding an encrypted
    /// volume (vfs_type crypto_LUKS or BitLocker), with that type. The
    /// daemon's list_filesystems leaves them out, so they are probed one by one
    /// as guestfish's key handling does.
    /// </summary>
    public async Task<IReadOnlyList<KeyValuePair<string, string>>> ListEncryptedDevicesAsync(CancellationToken cancellationToken = default)
    {
        var candidates = new List<string>();
        candidates.AddRange(await ListDevicesAsync(cancellationToken).ConfigureAwait(false));
        candidates.AddRange(await ListPartitionsAsync(cancellationToken).ConfigureAwait(false));
        if (await InternalFeatureAvailableAsync("lvm2", cancellationToken).ConfigureAwait(false) == 0)
            candidates.AddRange(await LvsAsync(cancellationToken).ConfigureAwait(false));
        var found = new List<KeyValuePair<string, string>>();
        foreach (var dev in candidates)
        {
            string type;
            try { type = await VfsTypeAsync(dev, cancellationToken).ConfigureAwait(false); }
            catch (GuestFsException e) when (e is not GuestFsProtocolException) { continue; }
            if (type is "crypto_LUKS" or "BitLocker") found.Add(new KeyValuePair<string, string>(dev, type));
        }
        return found;
    }

    /// <summary>Rescans LVM and activates every volume group (after unlocking, LVs may have appeared).</summary>
    public async Task ActivateVolumeGroupsAsync(CancellationToken cancellationToken = default)
    {
        if (await InternalFeatureAvailableAsync("lvm2", cancellationToken).ConfigureAwait(false) != 0) return;
#pragma warning disable CS0618 // vgscan is the rescan 1.48.6 has
        await VgscanAsync(cancellationToken).ConfigureAwait(false);
#pragma warning restore CS0618
        await VgActivateAllAsync(true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The device-mapper name used for a decrypted device: luks-sda2, luks-vg-lv.</summary>
    public static string MapNameFor(string device)
    {
        string name = device.StartsWith("/dev/", StringComparison.Ordinal) ? device.Substring(5) : device.TrimStart('/');
        var sb = new StringBuilder("luks-");
        foreach (char c in name) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-' ? c : '-');
        return sb.ToString();
    }

    private async Task CryptsetupOpenSecretAsync(string device, SecureString passphrase, string mapName, CancellationToken ct)
    {
        byte[] key = SecretToPinnedUtf8(passphrase);
        try
        {
            var request = GuestFs.Engine.Launch.LaunchSupport.Request("cryptsetup_open", w =>
            {
                w.WriteString(device);
                w.WriteSecretString(key);
                w.WriteString(mapName);
                w.WriteBool(false);  // readonly (not sent: bit clear)
                w.WriteString("");   // crypttype (not sent: bit clear)
            });
            try
            {
                await InvokeAsync(request, XdrDecoders.Void, null, ct).ConfigureAwait(false);
            }
            catch (GuestFsException e) when (e is not GuestFsProtocolException && ContainsSecret(e.DaemonMessage, key))
            {
                throw new GuestFsException(e.Procedure, e.ErrnoName, "the device could not be opened (the daemon's message was withheld because it contained the passphrase)");
            }
        }
        finally
        {
            CryptographicClear(key);
        }
    }

    /// <summary>UTF-8 bytes of the secret in a pinned array (the GC never copies it); the caller wipes it.</summary>
    private static byte[] SecretToPinnedUtf8(SecureString secret)
    {
        IntPtr p = Marshal.SecureStringToGlobalAllocUnicode(secret);
        char[] chars = GC.AllocateArray<char>(secret.Length, pinned: true);
        try
        {
            Marshal.Copy(p, chars, 0, chars.Length);
            var bytes = GC.AllocateArray<byte>(Encoding.UTF8.GetByteCount(chars), pinned: true);
            Encoding.UTF8.GetBytes(chars, 0, chars.Length, bytes, 0);
            return bytes;
        }
        finally
        {
            Array.Clear(chars);
            Marshal.ZeroFreeGlobalAllocUnicode(p);
        }
    }

    private static bool ContainsSecret(string message, byte[] key) =>
        key.Length > 0 && Encoding.UTF8.GetBytes(message).AsSpan().IndexOf(key) >= 0;

    private static void CryptographicClear(byte[] b) =>
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(b);
}
