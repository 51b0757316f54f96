using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Provider;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library.Registry;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;
using GuestFs.PowerShell.Provider;

namespace GuestFs.PowerShell.Registry;

/// <summary>A GuestRegistry drive: one hive (or a key in it) of a Windows guest's registry.</summary>
public sealed class GuestRegistryDriveInfo : PSDriveInfo
{
    internal GuestRegistryDriveInfo(string name, ProviderInfo provider, GuestDisk disk, HivePath basePath, string? description, PSCredential? credential)
        : base(name, provider, name + ":/", description ?? "", credential)
    {
        Disk = disk;
        Base = basePath;
    }

    /// <summary>The disk whose registry the drive shows.</summary>
    public GuestDisk Disk { get; }

    /// <summary>The registry key the drive's root stands for (HKEY_LOCAL_MACHINE\SOFTWARE).</summary>
    public string RegistryRoot => Base.FullName;

    internal HivePath Base { get; }
}

/// <summary>The parameters New-PSDrive gains for -PSProvider GuestRegistry.</summary>
public sealed class GuestRegistryDriveParameters
{
    /// <summary>The disk (opened with -Inspect on a Windows guest) whose registry the drive shows; optional when exactly one disk is open.</summary>
    [Parameter]
    public GuestDisk? Disk { get; set; }
}

/// <summary>-Type of Set-ItemProperty on a GuestRegistry drive.</summary>
public sealed class GuestRegistrySetPropertyParameters
{
    /// <summary>The value type (String, ExpandString, MultiString, DWord, QWord, Binary, None); without it an existing value keeps its type and a new one is typed from the value.</summary>
    [Parameter]
    [ValidateSet("String", "ExpandString", "Binary", "DWord", "MultiString", "QWord", "None", "Unknown", IgnoreCase = true)]
    public string? Type { get; set; }
}

/// <summary>
/// The GuestRegistry provider: the registry of a Windows guest (a disk opened with
/// Open-GuestDisk -Inspect) as PowerShell drives, with the item and property cmdlets
/// PowerShell's Registry provider has. Reads go through the daemon's hivex calls (see
/// GuestRegistryState); changes need a disk opened -Writable and are committed to the
/// hive when the drive is removed or the disk closed.
/// </summary>
[CmdletProvider(ProviderName, ProviderCapabilities.ShouldProcess)]
[OutputType(typeof(GuestRegistryKey), ProviderCmdlet = ProviderCmdlet.GetChildItem)]
[OutputType(typeof(GuestRegistryKey), ProviderCmdlet = ProviderCmdlet.GetItem)]
public sealed class GuestRegistryProvider : NavigationCmdletProvider, IPropertyCmdletProvider, IDynamicPropertyCmdletProvider
{
    public const string ProviderName = "GuestRegistry";

    private readonly struct Target
    {
        public Target(GuestRegistryDriveInfo drive, string rooted)
        {
            Drive = drive;
            Rooted = rooted;
            Key = drive.Base with { Segments = drive.Base.Segments.Concat(rooted.Split('/', StringSplitOptions.RemoveEmptyEntries)).ToArray() };
        }

        public GuestRegistryDriveInfo Drive { get; }
        public string Rooted { get; }
        public HivePath Key { get; }
        public GuestDisk Disk => Drive.Disk;
        public GuestRegistryState State => Drive.Disk.Registry;
        public string PsPath => Drive.Name + ":" + Rooted;
    }

    // ------------------------------------------------------------ drives

    protected override Collection<PSDriveInfo> InitializeDefaultDrives() => new();

    protected override object NewDriveDynamicParameters() => new GuestRegistryDriveParameters();

    protected override PSDriveInfo? NewDrive(PSDriveInfo drive)
    {
        if (drive is GuestRegistryDriveInfo made) return made;
        var p = DynamicParameters as GuestRegistryDriveParameters;
        GuestDisk? disk = p?.Disk;
        if (disk is null)
        {
            var all = GuestDiskRegistry.Mine();
            if (all.Length != 1)
            {
                WriteError(new ErrorRecord(new InvalidOperationException(all.Length == 0
                        ? "No guest disk is open. Open a Windows guest first: Open-GuestDisk -Path <image> -Inspect, then New-PSDrive -PSProvider GuestRegistry -Name <name> -Root HKLM\\SOFTWARE -Disk <disk>."
                        : $"{all.Length} guest disks are open (Ids {string.Join(", ", all.Select(d => d.Id))}); say which one with -Disk."),
                    all.Length == 0 ? "NoGuestDiskOpen" : "AmbiguousGuestDisk", all.Length == 0 ? ErrorCategory.InvalidOperation : ErrorCategory.InvalidArgument, drive.Name));
                return null;
            }
            disk = all[0];
        }
        if (disk.State != GuestSessionState.Ready)
        {
            WriteError(new ErrorRecord(new InvalidOperationException($"GuestDisk {disk.Id} is not open (state {disk.State}); open the image again with Open-GuestDisk -Inspect."),
                "GuestDiskClosed", ErrorCategory.InvalidOperation, disk));
            return null;
        }
        HivePath basePath;
        try
        {
            string root = string.IsNullOrEmpty(drive.Root) ? "" : drive.Root;
            // PowerShell may have made the root a path on the current drive (W:/HKLM/...): the registry path is what follows the drive.
            if (GuestFsPath.TrySplitDrive(GuestFsPath.Normalize(root), out _, out var rest) && !root.StartsWith("HK", StringComparison.OrdinalIgnoreCase)) root = rest;
            basePath = GuestRegistryState.ParsePath(root);
            var key = Call(disk, ct => disk.Registry.ReadKeyAsync(disk, basePath, ct));
            if (key is null)
                throw new RegistryPathException("RegistryKeyNotFound", ErrorCategory.ObjectNotFound, $"The key '{basePath.FullName}' does not exist in the registry of GuestDisk {disk.Id}.");
            basePath = basePath with { Segments = key.Path };
        }
        catch (RegistryPathException e)
        {
            WriteError(new ErrorRecord(e, e.ErrorId, e.Category, drive.Root));
            return null;
        }
        catch (Exception e) when (IsEngineError(e))
        {
            WriteError(GuestCmdlet.ToErrorRecord(e, "NewDriveFailed", drive.Name, reading: true));
            return null;
        }
        return new GuestRegistryDriveInfo(drive.Name, drive.Provider, disk, basePath,
            string.IsNullOrEmpty(drive.Description) ? $"{basePath.FullName} of GuestDisk {disk.Id}" : drive.Description, drive.Credential);
    }

    protected override PSDriveInfo RemoveDrive(PSDriveInfo drive)
    {
        if (drive is GuestRegistryDriveInfo g && g.Disk.State == GuestSessionState.Ready && g.Disk.Registry.Pending.Length > 0)
        {
            try
            {
                foreach (var f in Call(g.Disk, async ct => await g.Disk.Registry.CommitAsync(g.Disk, null, ct).ConfigureAwait(false)))
                    WriteVerbose($"committed the registry changes to {f}");
            }
            catch (Exception e) when (IsEngineError(e))
            {
                WriteError(GuestCmdlet.ToErrorRecord(e, "RegistryCommitFailed", drive.Name));
            }
        }
        return drive;
    }

    // ------------------------------------------------------------ paths

    protected override bool IsValidPath(string path) => path is not null && path.IndexOf('\0') < 0;

    protected override string MakePath(string parent, string child) => GuestFsPath.MakePath(parent, child);

    protected override string GetParentPath(string path, string root) => GuestFsPath.GetParentPath(path, root);

    protected override string GetChildName(string path) => GuestFsPath.GetChildName(path);

    protected override string NormalizeRelativePath(string path, string basePath) => GuestFsPath.MakeRelative(path, basePath);

    private GuestRegistryDriveInfo? FindDriveOrNull(string name)
    {
        if (PSDriveInfo is GuestRegistryDriveInfo current && string.Equals(current.Name, name, StringComparison.OrdinalIgnoreCase)) return current;
        try { return SessionState.Drive.Get(name) as GuestRegistryDriveInfo; }
        catch (DriveNotFoundException) { return null; }
    }

    private Target Resolve(string path)
    {
        string n = GuestFsPath.Normalize(path);
        GuestRegistryDriveInfo? drive;
        if (GuestFsPath.TrySplitDrive(n, out var name, out _))
        {
            drive = FindDriveOrNull(name);
            if (drive is null)
                ThrowTerminatingError(new ErrorRecord(new DriveNotFoundException($"There is no GuestRegistry drive named '{name}' (for '{path}'). Get-PSDrive -PSProvider GuestRegistry lists them."),
                    "GuestRegistryDriveNotFound", ErrorCategory.ObjectNotFound, path));
        }
        else
        {
            drive = PSDriveInfo as GuestRegistryDriveInfo;
            if (drive is null)
            {
                var all = SessionState.Drive.GetAllForProvider(ProviderInfo.Name).OfType<GuestRegistryDriveInfo>().ToArray();
                if (all.Length == 1) drive = all[0];
                else
                    ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{path}' does not say which GuestRegistry drive it is on. Write it with the drive, for example W:\\Microsoft."),
                        "GuestRegistryPathWithoutDrive", ErrorCategory.InvalidArgument, path));
            }
        }
        if (drive!.Disk.State != GuestSessionState.Ready)
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(
                    $"The GuestRegistry drive '{drive.Name}' belongs to GuestDisk {drive.Disk.Id}, which is no longer open. Remove the drive (Remove-PSDrive {drive.Name}) and open the image again."),
                "GuestDiskClosed", ErrorCategory.InvalidOperation, drive.Name + ":"));
        return new Target(drive, GuestFsPath.ToRootedPath(n));
    }

    // ------------------------------------------------------------ calls

    private static bool IsEngineError(Exception e) =>
        e is GuestFsException or GuestFsStateException or System.IO.IOException or InvalidOperationException
            or ArgumentException or OperationCanceledException or RegistryPathException;

    private T Call<T>(GuestDisk disk, Func<CancellationToken, Task<T>> work)
    {
        using var cts = new CancellationTokenSource();
        var task = work(cts.Token);
        while (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(50))
            if (Stopping && !cts.IsCancellationRequested) cts.Cancel();
        try { return task.GetAwaiter().GetResult(); }
        catch (OperationCanceledException) when (cts.IsCancellationRequested) { throw new PipelineStoppedException(); }
    }

    private void Modify(Target t, Func<HiveEditor, CancellationToken, Task> edit) =>
        Call(t.Disk, async ct => { await t.State.ModifyAsync(t.Disk, t.Key, edit, ct).ConfigureAwait(false); return true; });

    private RegKeySnapshot? Key(Target t) => Call(t.Disk, ct => t.State.ReadKeyAsync(t.Disk, t.Key, ct));

    private void Fail(Exception e, string errorId, Target t, bool reading = false)
    {
        if (e is PipelineStoppedException) throw e;
        if (e is RegistryPathException rp) { WriteError(new ErrorRecord(rp, rp.ErrorId, rp.Category, t.PsPath)); return; }
        if (e is ItemNotFoundException) { WriteError(new ErrorRecord(e, "PathNotFound", ErrorCategory.ObjectNotFound, t.PsPath)); return; }
        WriteError(GuestCmdlet.ToErrorRecord(e, errorId, t.PsPath, reading));
    }

    private void NotFound(Target t) => WriteError(new ErrorRecord(
        new ItemNotFoundException($"Cannot find path '{t.PsPath}' because it does not exist."), "PathNotFound", ErrorCategory.ObjectNotFound, t.PsPath));

    private bool Writable(Target t)
    {
        if (!t.Disk.ReadOnly) return true;
        WriteError(GuestCmdlet.ReadOnlyError(t.Disk, t.Key.FullName));
        return false;
    }

    private string PathOf(Target t, string[] keyPath)
    {
        // The drive path of a key below the drive's root, in the hive's spelling.
        var below = keyPath.Skip(t.Drive.Base.Segments.Length);
        return t.Drive.Name + ":/" + string.Join("/", below);
    }

    private void WriteKey(Target t, RegKeySnapshot key) =>
        WriteItemObject(new GuestRegistryKey(t.Disk.Id, t.Key.Prefix, key), PathOf(t, key.Path), true);

    // ------------------------------------------------------------ items

    protected override bool ItemExists(string path)
    {
        var t = Resolve(path);
        try { return Key(t) is not null; }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "ItemExistsFailed", t, reading: true); return false; }
    }

    protected override bool IsItemContainer(string path) => ItemExists(path);

    protected override bool HasChildItems(string path)
    {
        var t = Resolve(path);
        try { return Key(t) is { SubKeys.Length: > 0 }; }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "HasChildItemsFailed", t, reading: true); return false; }
    }

    protected override void GetItem(string path)
    {
        var t = Resolve(path);
        try
        {
            if (Key(t) is { } key) WriteKey(t, key);
            else NotFound(t);
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "GetItemFailed", t, reading: true); }
    }

    protected override void GetChildItems(string path, bool recurse) => GetChildItems(path, recurse, uint.MaxValue);

    protected override void GetChildItems(string path, bool recurse, uint depth)
    {
        var t = Resolve(path);
        try
        {
            int levels = recurse ? (int)Math.Min(depth == uint.MaxValue ? int.MaxValue : depth + 1, int.MaxValue) : 1;
            var tree = Call(t.Disk, ct => t.State.ReadTreeAsync(t.Disk, t.Key, levels, ct));
            if (tree is null) { NotFound(t); return; }
            foreach (var key in tree.Skip(1))
            {
                if (Stopping) return;
                WriteKey(t, key);
            }
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "GetChildItemsFailed", t, reading: true); }
    }

    protected override void GetChildNames(string path, ReturnContainers returnContainers)
    {
        var t = Resolve(path);
        try
        {
            var key = Key(t);
            if (key is null) { NotFound(t); return; }
            foreach (var name in key.SubKeys)
                WriteItemObject(name, GuestFsPath.MakePath(PathOf(t, key.Path), name), true);
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "GetChildNamesFailed", t, reading: true); }
    }

    protected override void NewItem(string path, string itemTypeName, object newItemValue)
    {
        var t = Resolve(path);
        if (t.Rooted == "/" && t.Drive.Base.Segments.Length == 0)
        {
            WriteError(new ErrorRecord(new InvalidOperationException($"'{t.PsPath}' is the root key of a hive; it exists already."), "ItemExists", ErrorCategory.ResourceExists, t.PsPath));
            return;
        }
        if (!ShouldProcess(t.Key.FullName, "Create guest registry key")) return;
        if (!Writable(t)) return;
        try
        {
            var existing = Key(t);
            if (existing is not null && !Force.IsPresent)
            {
                WriteError(new ErrorRecord(new System.IO.IOException($"The key '{t.Key.FullName}' already exists."), "ItemExists", ErrorCategory.ResourceExists, t.PsPath));
                return;
            }
            var parent = t.Key with { Segments = t.Key.Segments[..^1] };
            if (existing is null && !Force.IsPresent && Call(t.Disk, ct => t.State.ReadKeyAsync(t.Disk, parent, ct)) is null)
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"The parent key '{parent.FullName}' does not exist; create it first or use -Force to create the missing keys."),
                    "PathNotFound", ErrorCategory.ObjectNotFound, t.PsPath));
                return;
            }
            object? value = newItemValue is PSObject pso ? pso.BaseObject : newItemValue;
            var segs = t.Key.Segments;
            Modify(t, async (ed, ct) =>
            {
                await ed.EnsureKeyAsync(segs, ct).ConfigureAwait(false);
                if (value is not null)
                {
                    var (type, data) = Encode(null, value);
                    await ed.SetValueAsync(segs, "", type, data, ct).ConfigureAwait(false);
                }
            });
            if (Key(t) is { } created) WriteKey(t, created);
        }
        catch (Exception e) when (IsEngineError(e) || e is ItemNotFoundException) { Fail(e, "NewItemFailed", t); }
    }

    protected override void RemoveItem(string path, bool recurse)
    {
        var t = Resolve(path);
        if (t.Key.Segments.Length == 0)
        {
            WriteError(new ErrorRecord(new InvalidOperationException($"Refusing to remove the root key of the hive ({t.Key.FullName})."), "RemoveRootRefused", ErrorCategory.InvalidOperation, t.PsPath));
            return;
        }
        try
        {
            var key = Key(t);
            if (key is null) { NotFound(t); return; }
            if (key.SubKeys.Length > 0 && !recurse)
            {
                WriteError(new ErrorRecord(new System.IO.IOException($"The key '{t.Key.FullName}' has subkeys; use Remove-Item -Recurse to remove it with them."),
                    "KeyHasSubkeys", ErrorCategory.InvalidOperation, t.PsPath));
                return;
            }
            if (!ShouldProcess(t.Key.FullName, "Remove guest registry key")) return;
            if (!Writable(t)) return;
            var segs = t.Key.Segments;
            Modify(t, async (ed, ct) => await ed.DeleteKeyAsync(segs, ct).ConfigureAwait(false));
        }
        catch (Exception e) when (IsEngineError(e) || e is ItemNotFoundException) { Fail(e, "RemoveItemFailed", t); }
    }

    // ------------------------------------------------------------ values

    internal static string DisplayName(string name) => name.Length == 0 ? "(default)" : name;

    internal static string StoredName(string name) => name == "(default)" ? "" : name;

    /// <summary>
    /// Data for a value: as <paramref name="type"/> when given, else typed from the .NET value
    /// (int → DWord, long → QWord, string[] → MultiString, byte[] → Binary, anything else → String).
    /// </summary>
    internal static (int Type, byte[] Data) Encode(int? type, object? value)
    {
        if (value is PSObject pso) value = pso.BaseObject;
        int t = type ?? value switch
        {
            int or short or byte or uint or ushort => RegType.DWord,
            long or ulong => RegType.QWord,
            byte[] => RegType.Binary,
            string[] or object[] => RegType.MultiString,
            _ => RegType.String,
        };
        byte[] data = t switch
        {
            RegType.String or RegType.ExpandString => RegData.EncodeString(value is null ? "" : LanguagePrimitives.ConvertTo<string>(value)),
            RegType.MultiString => RegData.EncodeMulti(value is null ? Array.Empty<string>() : LanguagePrimitives.ConvertTo<string[]>(value)),
            RegType.DWord => RegData.EncodeDWord(value switch
            {
                null => 0,
                uint u => unchecked((int)u),
                long l when l is >= int.MinValue and <= uint.MaxValue => unchecked((int)l),
                _ => LanguagePrimitives.ConvertTo<int>(value),
            }),
            RegType.QWord => RegData.EncodeQWord(value switch
            {
                null => 0,
                ulong u => unchecked((long)u),
                _ => LanguagePrimitives.ConvertTo<long>(value),
            }),
            _ => value is null ? Array.Empty<byte>() : LanguagePrimitives.ConvertTo<byte[]>(value),
        };
        return (t, data);
    }

    private static int? KindToType(string? kind) =>
        kind is null || kind.Equals("Unknown", StringComparison.OrdinalIgnoreCase) ? null : RegType.Parse(kind);

    private PSObject ValuesObject(RegKeySnapshot key, IEnumerable<RegValue> values)
    {
        var o = new PSObject();
        foreach (var v in values) o.Properties.Add(new PSNoteProperty(DisplayName(v.Name), v.ToObject()));
        return o;
    }

    private List<RegValue> Pick(Target t, RegKeySnapshot key, Collection<string>? names, bool reportMissing)
    {
        if (names is null || names.Count == 0) return key.Values.ToList();
        var picked = new List<RegValue>();
        foreach (var n in names)
        {
            var pattern = new WildcardPattern(n, WildcardOptions.IgnoreCase);
            var hits = key.Values.Where(v => pattern.IsMatch(DisplayName(v.Name)) || (!WildcardPattern.ContainsWildcardCharacters(n) && string.Equals(v.Name, StoredName(n), StringComparison.OrdinalIgnoreCase))).ToList();
            if (hits.Count == 0 && reportMissing && !WildcardPattern.ContainsWildcardCharacters(n))
                WriteError(new ErrorRecord(new PSArgumentException($"Property {n} does not exist at path {t.Key.FullName}."), "System.Management.Automation.PSArgumentException", ErrorCategory.InvalidArgument, n));
            foreach (var h in hits) if (!picked.Contains(h)) picked.Add(h);
        }
        return picked;
    }

    public void GetProperty(string path, Collection<string> providerSpecificPickList)
    {
        var t = Resolve(path);
        try
        {
            var key = Key(t);
            if (key is null) { NotFound(t); return; }
            var picked = Pick(t, key, providerSpecificPickList, reportMissing: true);
            if (picked.Count == 0 && providerSpecificPickList is { Count: > 0 }) return;
            WritePropertyObject(ValuesObject(key, picked), PathOf(t, key.Path));
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "GetPropertyFailed", t, reading: true); }
    }

    public object? GetPropertyDynamicParameters(string path, Collection<string> providerSpecificPickList) => null;

    public void SetProperty(string path, PSObject propertyValue)
    {
        var t = Resolve(path);
        int? type = DynamicParameters is GuestRegistrySetPropertyParameters p ? KindToType(p.Type) : null;
        try
        {
            var key = Key(t);
            if (key is null) { NotFound(t); return; }
            var changes = new List<RegValue>();
            foreach (var prop in propertyValue.Properties)
            {
                string name = StoredName(prop.Name);
                var existing = key.Values.FirstOrDefault(v => string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase));
                // Without -Type an existing value keeps its type (Start stays a DWord).
                var (vt, data) = Encode(type ?? existing?.Type, prop.Value);
                changes.Add(new RegValue(existing?.Name ?? name, vt, data));
            }
            if (!ShouldProcess($"Item: {t.Key.FullName} Property: {string.Join(", ", changes.Select(c => DisplayName(c.Name)))}", "Set guest registry value")) return;
            if (!Writable(t)) return;
            var segs = t.Key.Segments;
            Modify(t, async (ed, ct) =>
            {
                foreach (var c in changes) await ed.SetValueAsync(segs, c.Name, c.Type, c.Data, ct).ConfigureAwait(false);
            });
            if (Key(t) is { } after)
                WritePropertyObject(ValuesObject(after, after.Values.Where(v => changes.Any(c => string.Equals(c.Name, v.Name, StringComparison.OrdinalIgnoreCase)))), PathOf(t, after.Path));
        }
        catch (Exception e) when (IsEngineError(e) || e is PSInvalidCastException or ItemNotFoundException) { Fail(e, "SetPropertyFailed", t); }
    }

    public object SetPropertyDynamicParameters(string path, PSObject propertyValue) => new GuestRegistrySetPropertyParameters();

    public void ClearProperty(string path, Collection<string> propertyToClear)
    {
        var t = Resolve(path);
        try
        {
            var key = Key(t);
            if (key is null) { NotFound(t); return; }
            var picked = Pick(t, key, propertyToClear, reportMissing: true);
            if (picked.Count == 0) return;
            if (!ShouldProcess($"Item: {t.Key.FullName} Property: {string.Join(", ", picked.Select(v => DisplayName(v.Name)))}", "Clear guest registry value")) return;
            if (!Writable(t)) return;
            var segs = t.Key.Segments;
            Modify(t, async (ed, ct) =>
            {
                foreach (var v in picked)
                {
                    var (vt, data) = v.Type switch
                    {
                        RegType.String or RegType.ExpandString or RegType.MultiString or RegType.DWord or RegType.QWord => Encode(v.Type, null),
                        _ => (v.Type, Array.Empty<byte>()),
                    };
                    await ed.SetValueAsync(segs, v.Name, vt, data, ct).ConfigureAwait(false);
                }
            });
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "ClearPropertyFailed", t); }
    }

    public object? ClearPropertyDynamicParameters(string path, Collection<string> propertyToClear) => null;

    public void NewProperty(string path, string propertyName, string propertyTypeName, object value)
    {
        var t = Resolve(path);
        int? type = null;
        if (!string.IsNullOrEmpty(propertyTypeName))
        {
            type = RegType.Parse(propertyTypeName);
            if (type is null)
            {
                WriteError(new ErrorRecord(new ArgumentException($"'{propertyTypeName}' is not a registry value type; use String, ExpandString, MultiString, DWord, QWord, Binary or None."),
                    "UnknownPropertyType", ErrorCategory.InvalidArgument, propertyTypeName));
                return;
            }
        }
        try
        {
            var key = Key(t);
            if (key is null) { NotFound(t); return; }
            string name = StoredName(propertyName ?? "");
            var existing = key.Values.FirstOrDefault(v => string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase));
            if (existing is not null && !Force.IsPresent)
            {
                WriteError(new ErrorRecord(new System.IO.IOException($"The property {DisplayName(name)} already exists at {t.Key.FullName}; use -Force to replace it, or Set-ItemProperty."),
                    "PropertyExists", ErrorCategory.ResourceExists, DisplayName(name)));
                return;
            }
            var (vt, data) = Encode(type ?? RegType.String, value);
            if (!ShouldProcess($"Item: {t.Key.FullName} Property: {DisplayName(name)}", "New guest registry value")) return;
            if (!Writable(t)) return;
            var segs = t.Key.Segments;
            Modify(t, async (ed, ct) => await ed.SetValueAsync(segs, existing?.Name ?? name, vt, data, ct).ConfigureAwait(false));
            if (Key(t) is { } after)
                WritePropertyObject(ValuesObject(after, after.Values.Where(v => string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase))), PathOf(t, after.Path));
        }
        catch (Exception e) when (IsEngineError(e) || e is PSInvalidCastException) { Fail(e, "NewPropertyFailed", t); }
    }

    public object? NewPropertyDynamicParameters(string path, string propertyName, string propertyTypeName, object value) => null;

    public void RemoveProperty(string path, string propertyName)
    {
        var t = Resolve(path);
        try
        {
            var key = Key(t);
            if (key is null) { NotFound(t); return; }
            var picked = Pick(t, key, new Collection<string> { propertyName }, reportMissing: true);
            if (picked.Count == 0) return;
            if (!ShouldProcess($"Item: {t.Key.FullName} Property: {string.Join(", ", picked.Select(v => DisplayName(v.Name)))}", "Remove guest registry value")) return;
            if (!Writable(t)) return;
            var segs = t.Key.Segments;
            Modify(t, async (ed, ct) => await ed.RewriteValuesAsync(segs, values => values.Where(v => !picked.Any(p => p.Name == v.Name)).ToArray(), ct).ConfigureAwait(false));
        }
        catch (Exception e) when (IsEngineError(e) || e is ItemNotFoundException) { Fail(e, "RemovePropertyFailed", t); }
    }

    public object? RemovePropertyDynamicParameters(string path, string propertyName) => null;

    public void RenameProperty(string path, string sourceProperty, string destinationProperty)
    {
        var t = Resolve(path);
        try
        {
            var key = Key(t);
            if (key is null) { NotFound(t); return; }
            string src = StoredName(sourceProperty), dst = StoredName(destinationProperty);
            var from = key.Values.FirstOrDefault(v => string.Equals(v.Name, src, StringComparison.OrdinalIgnoreCase));
            if (from is null)
            {
                WriteError(new ErrorRecord(new PSArgumentException($"Property {sourceProperty} does not exist at path {t.Key.FullName}."), "System.Management.Automation.PSArgumentException", ErrorCategory.InvalidArgument, sourceProperty));
                return;
            }
            if (key.Values.Any(v => v != from && string.Equals(v.Name, dst, StringComparison.OrdinalIgnoreCase)) && !Force.IsPresent)
            {
                WriteError(new ErrorRecord(new System.IO.IOException($"The property {destinationProperty} already exists at {t.Key.FullName}; use -Force to replace it."),
                    "PropertyExists", ErrorCategory.ResourceExists, destinationProperty));
                return;
            }
            if (!ShouldProcess($"Item: {t.Key.FullName} Source Property: {DisplayName(from.Name)} Destination Property: {DisplayName(dst)}", "Rename guest registry value")) return;
            if (!Writable(t)) return;
            var segs = t.Key.Segments;
            Modify(t, async (ed, ct) => await ed.RewriteValuesAsync(segs, values => values
                .Where(v => !string.Equals(v.Name, dst, StringComparison.OrdinalIgnoreCase) || v.Name == from.Name)
                .Select(v => v.Name == from.Name ? v with { Name = dst } : v).ToArray(), ct).ConfigureAwait(false));
            if (Key(t) is { } after)
                WritePropertyObject(ValuesObject(after, after.Values.Where(v => v.Name == dst)), PathOf(t, after.Path));
        }
        catch (Exception e) when (IsEngineError(e) || e is ItemNotFoundException) { Fail(e, "RenamePropertyFailed", t); }
    }

    public object? RenamePropertyDynamicParameters(string path, string sourceProperty, string destinationProperty) => null;

    public void CopyProperty(string sourcePath, string sourceProperty, string destinationPath, string destinationProperty) =>
        CopyOrMove(sourcePath, sourceProperty, destinationPath, destinationProperty, move: false);

    public object? CopyPropertyDynamicParameters(string sourcePath, string sourceProperty, string destinationPath, string destinationProperty) => null;

    public void MoveProperty(string sourcePath, string sourceProperty, string destinationPath, string destinationProperty) =>
        CopyOrMove(sourcePath, sourceProperty, destinationPath, destinationProperty, move: true);

    public object? MovePropertyDynamicParameters(string sourcePath, string sourceProperty, string destinationPath, string destinationProperty) => null;

    private void CopyOrMove(string sourcePath, string sourceProperty, string destinationPath, string destinationProperty, bool move)
    {
        var t = Resolve(sourcePath);
        var d = Resolve(destinationPath);
        if (d.Disk != t.Disk || d.Key.Hive != t.Key.Hive || d.Key.User != t.Key.User)
        {
            WriteError(new ErrorRecord(new InvalidOperationException($"'{t.Key.FullName}' and '{d.Key.FullName}' are in different hives; values are copied and moved within one hive."),
                "CrossHiveNotSupported", ErrorCategory.InvalidOperation, t.PsPath));
            return;
        }
        try
        {
            var key = Key(t);
            if (key is null) { NotFound(t); return; }
            if (Key(d) is null) { NotFound(d); return; }
            string src = StoredName(sourceProperty);
            var from = key.Values.FirstOrDefault(v => string.Equals(v.Name, src, StringComparison.OrdinalIgnoreCase));
            if (from is null)
            {
                WriteError(new ErrorRecord(new PSArgumentException($"Property {sourceProperty} does not exist at path {t.Key.FullName}."), "System.Management.Automation.PSArgumentException", ErrorCategory.InvalidArgument, sourceProperty));
                return;
            }
            string dst = string.IsNullOrEmpty(destinationProperty) ? from.Name : StoredName(destinationProperty);
            if (!ShouldProcess($"Item: {t.Key.FullName} Property: {DisplayName(from.Name)} Destination: {d.Key.FullName} Property: {DisplayName(dst)}", move ? "Move guest registry value" : "Copy guest registry value")) return;
            if (!Writable(t)) return;
            var srcSegs = t.Key.Segments;
            var dstSegs = d.Key.Segments;
            Modify(t, async (ed, ct) =>
            {
                await ed.SetValueAsync(dstSegs, dst, from.Type, from.Data, ct).ConfigureAwait(false);
                bool same = srcSegs.Length == dstSegs.Length && srcSegs.Zip(dstSegs).All(z => string.Equals(z.First, z.Second, StringComparison.OrdinalIgnoreCase));
                if (move && !(same && string.Equals(dst, from.Name, StringComparison.OrdinalIgnoreCase)))
                    await ed.RewriteValuesAsync(srcSegs, values => values.Where(v => v.Name != from.Name).ToArray(), ct).ConfigureAwait(false);
            });
        }
        catch (Exception e) when (IsEngineError(e) || e is ItemNotFoundException) { Fail(e, move ? "MovePropertyFailed" : "CopyPropertyFailed", t); }
    }
}

/// <summary>Drive bookkeeping for Close-GuestDisk: commit a disk's registry changes and remove its GuestRegistry drives.</summary>
internal static class GuestRegistryDrives
{
    public static List<string> RemoveDrivesOf(SessionState state, GuestDisk disk)
    {
        var removed = new List<string>();
        Collection<PSDriveInfo> drives;
        try { drives = state.Drive.GetAllForProvider(GuestRegistryProvider.ProviderName); }
        catch (ProviderNotFoundException) { return removed; }
        foreach (var drive in drives)
        {
            if (drive is not GuestRegistryDriveInfo g || g.Disk != disk) continue;
            if (state.Path.CurrentLocation.Drive == g)
                state.Path.SetLocation(WildcardPattern.Escape(state.Path.CurrentFileSystemLocation.Path));
            state.Drive.Remove(g.Name, true, null);
            removed.Add(g.Name);
        }
        return removed;
    }
}
