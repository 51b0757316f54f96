using System;
using System.Collections.Generic;
using System.Linq;
using GuestFs.Engine.Library.Registry;

namespace GuestFs.PowerShell.Registry;

/// <summary>
/// A key of a guest's registry, as the GuestRegistry provider's Get-Item and
/// Get-ChildItem write it: a snapshot (it does not follow later changes).
/// <see cref="Property"/> lists the value names as the Registry provider's keys do
/// ("(default)" for the default value).
/// </summary>
public sealed class GuestRegistryKey
{
    private readonly RegValue[] _values;

    internal GuestRegistryKey(int diskId, string prefix, RegKeySnapshot key)
    {
        DiskId = diskId;
        Name = key.Path.Length == 0 ? prefix : prefix + "\\" + string.Join("\\", key.Path);
        KeyName = key.Path.Length == 0 ? prefix.Substring(prefix.LastIndexOf('\\') + 1) : key.Path[^1];
        SubKeyNames = key.SubKeys;
        _values = key.Values;
    }

    /// <summary>The full name: HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft.</summary>
    public string Name { get; }

    /// <summary>The last part of the name.</summary>
    public string KeyName { get; }

    /// <summary>The Id of the GuestDisk the key was read from.</summary>
    public int DiskId { get; }

    public int SubKeyCount => SubKeyNames.Length;

    public int ValueCount => _values.Length;

    public string[] SubKeyNames { get; }

    /// <summary>The value names, "(default)" for the default value.</summary>
    public string[] Property => _values.Select(v => v.Name.Length == 0 ? "(default)" : v.Name).ToArray();

    /// <summary>A value as the Registry provider types it, or null when there is none by that name ("" or "(default)": the default value).</summary>
    public object? GetValue(string name) => Find(name)?.ToObject();

    /// <summary>The type of a value (String, ExpandString, MultiString, DWord, QWord, Binary, None or Unknown), or null.</summary>
    public string? GetValueKind(string name) => Find(name) is { } v ? RegType.Name(v.Type) : null;

    public string[] GetValueNames() => _values.Select(v => v.Name).ToArray();

    public string[] GetSubKeyNames() => (string[])SubKeyNames.Clone();

    internal IReadOnlyList<RegValue> Values => _values;

    private RegValue? Find(string name)
    {
        if (name == "(default)") name = "";
        return _values.FirstOrDefault(v => string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase));
    }

    public override string ToString() => Name;
}
