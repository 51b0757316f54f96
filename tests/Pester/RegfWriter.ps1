# A minimal writer of empty Windows registry hive files (the "regf" format), for
# the phony Windows test images. Written from the public description of the format:
# a 4096-byte base block, then hive bins ("hbin", 4096 bytes each here) holding cells
# (a signed 32-bit size, negative while the cell is in use, then the cell data).
# The empty hive holds a root key ("nk", flagged as the hive's entry) and the one
# security cell ("sk") every key refers to; hivexregedit --merge fills it.
# Test support only; nothing here ships with the module.

function New-RegfCell([byte[]] $Data) {
    # A used cell: its size (header included, rounded up to 8) stored negated.
    $size = 4 + $Data.Length
    $size = ($size + 7) -band -8
    $cell = [byte[]]::new($size)
    [BitConverter]::GetBytes([int](-$size)).CopyTo($cell, 0)
    $Data.CopyTo($cell, 4)
    , $cell
}

# Writes an empty hive to $Path. $Name is the file name Windows records in the base
# block (e.g. "\SystemRoot\System32\Config\SOFTWARE"); $RootName names the root key.
function New-EmptyRegistryHive([string] $Path, [string] $RootName = 'ROOT', [string] $Name = 'hive') {
    $le = [BitConverter]
    $filetime = [datetime]::new(2024, 1, 1, 0, 0, 0, [DateTimeKind]::Utc).ToFileTimeUtc()

    # Hive bin offsets are relative to the first bin (file offset 4096).
    $binHeader = 32
    $skOffset = $binHeader                  # the sk cell comes first
    # sk: "sk", reserved, flink, blink, reference count, descriptor size, descriptor.
    # The descriptor is a self-relative SECURITY_DESCRIPTOR with no owner, group or ACLs.
    $descriptor = [byte[]]::new(20)
    $descriptor[0] = 1                      # revision
    [BitConverter]::GetBytes([uint16]0x8000).CopyTo($descriptor, 2)   # SE_SELF_RELATIVE
    $sk = [byte[]]::new(0x14 + $descriptor.Length)
    [Text.Encoding]::ASCII.GetBytes('sk').CopyTo($sk, 0)
    $le::GetBytes([uint32]$skOffset).CopyTo($sk, 0x04)   # previous sk: itself (the only one)
    $le::GetBytes([uint32]$skOffset).CopyTo($sk, 0x08)   # next sk: itself
    $le::GetBytes([uint32]1).CopyTo($sk, 0x0C)           # referenced by the root key
    $le::GetBytes([uint32]$descriptor.Length).CopyTo($sk, 0x10)
    $descriptor.CopyTo($sk, 0x14)
    $skCell = New-RegfCell $sk

    $nkOffset = $skOffset + $skCell.Length
    $nameBytes = [Text.Encoding]::ASCII.GetBytes($RootName)
    $nk = [byte[]]::new(0x4C + $nameBytes.Length)
    [Text.Encoding]::ASCII.GetBytes('nk').CopyTo($nk, 0)
    # Flags: KEY_HIVE_ENTRY (0x04) | KEY_NO_DELETE (0x08) | KEY_COMP_NAME (0x20, ASCII name).
    $le::GetBytes([uint16]0x2C).CopyTo($nk, 0x02)
    $le::GetBytes([long]$filetime).CopyTo($nk, 0x04)
    $le::GetBytes([uint32]0).CopyTo($nk, 0x0C)
    $le::GetBytes([uint32]::MaxValue).CopyTo($nk, 0x10)  # parent: none
    $le::GetBytes([uint32]0).CopyTo($nk, 0x14)           # subkeys
    $le::GetBytes([uint32]0).CopyTo($nk, 0x18)           # volatile subkeys
    $le::GetBytes([uint32]::MaxValue).CopyTo($nk, 0x1C)  # subkey list: none
    $le::GetBytes([uint32]::MaxValue).CopyTo($nk, 0x20)  # volatile subkey list: none
    $le::GetBytes([uint32]0).CopyTo($nk, 0x24)           # values
    $le::GetBytes([uint32]::MaxValue).CopyTo($nk, 0x28)  # value list: none
    $le::GetBytes([uint32]$skOffset).CopyTo($nk, 0x2C)   # security
    $le::GetBytes([uint32]::MaxValue).CopyTo($nk, 0x30)  # class name: none
    $le::GetBytes([uint16]$nameBytes.Length).CopyTo($nk, 0x48)
    $le::GetBytes([uint16]0).CopyTo($nk, 0x4A)
    $nameBytes.CopyTo($nk, 0x4C)
    $nkCell = New-RegfCell $nk

    $bin = [byte[]]::new(4096)
    [Text.Encoding]::ASCII.GetBytes('hbin').CopyTo($bin, 0)
    $le::GetBytes([uint32]0).CopyTo($bin, 4)             # offset of this bin
    $le::GetBytes([uint32]4096).CopyTo($bin, 8)          # size of this bin
    $le::GetBytes([long]$filetime).CopyTo($bin, 0x14)
    $skCell.CopyTo($bin, $skOffset)
    $nkCell.CopyTo($bin, $nkOffset)
    $free = $nkOffset + $nkCell.Length
    $le::GetBytes([int](4096 - $free)).CopyTo($bin, $free)   # the rest: one free cell (positive size)

    $base = [byte[]]::new(4096)
    [Text.Encoding]::ASCII.GetBytes('regf').CopyTo($base, 0)
    $le::GetBytes([uint32]1).CopyTo($base, 0x04)         # primary sequence number
    $le::GetBytes([uint32]1).CopyTo($base, 0x08)         # secondary: equal, so the hive is clean
    $le::GetBytes([long]$filetime).CopyTo($base, 0x0C)
    $le::GetBytes([uint32]1).CopyTo($base, 0x14)         # major version
    $le::GetBytes([uint32]3).CopyTo($base, 0x18)         # minor version
    $le::GetBytes([uint32]0).CopyTo($base, 0x1C)         # primary file
    $le::GetBytes([uint32]1).CopyTo($base, 0x20)         # direct memory load
    $le::GetBytes([uint32]$nkOffset).CopyTo($base, 0x24) # root key cell
    $le::GetBytes([uint32]4096).CopyTo($base, 0x28)      # size of the hive bins
    $le::GetBytes([uint32]1).CopyTo($base, 0x2C)         # clustering factor
    $fileName = [Text.Encoding]::Unicode.GetBytes($Name)
    [Array]::Copy($fileName, 0, $base, 0x30, [Math]::Min($fileName.Length, 64))
    # Checksum: XOR of the first 127 32-bit words.
    [uint32]$sum = 0
    for ($i = 0; $i -lt 0x1FC; $i += 4) { $sum = $sum -bxor [BitConverter]::ToUInt32($base, $i) }
    $le::GetBytes($sum).CopyTo($base, 0x1FC)

    $stream = [IO.File]::Create($Path)
    try { $stream.Write($base, 0, $base.Length); $stream.Write($bin, 0, $bin.Length) }
    finally { $stream.Dispose() }
}

# A minimal PE image: the DOS header, the "PE" signature, a COFF header and an
# optional header whose magic says PE32 (i386) or PE32+ (x86_64); enough for file(1),
# which libguestfs's inspection asks for the architecture of System32/cmd.exe.
function New-PEStub([string] $Path, [ValidateSet('i386', 'x86_64')] [string] $Architecture) {
    $pe64 = $Architecture -eq 'x86_64'
    $optSize = if ($pe64) { 240 } else { 224 }
    $bytes = [byte[]]::new(0x200)
    $bytes[0] = 0x4D; $bytes[1] = 0x5A                          # "MZ"
    [BitConverter]::GetBytes([uint32]0x40).CopyTo($bytes, 0x3C)  # e_lfanew
    [Text.Encoding]::ASCII.GetBytes("PE`0`0").CopyTo($bytes, 0x40)
    $coff = 0x44
    $machine = if ($pe64) { 0x8664 } else { 0x014C }
    [BitConverter]::GetBytes([uint16]$machine).CopyTo($bytes, $coff)
    [BitConverter]::GetBytes([uint16]0).CopyTo($bytes, $coff + 2)          # sections
    [BitConverter]::GetBytes([uint16]$optSize).CopyTo($bytes, $coff + 16)
    $characteristics = if ($pe64) { 0x0022 } else { 0x0102 }               # executable (+large address aware / 32-bit)
    [BitConverter]::GetBytes([uint16]$characteristics).CopyTo($bytes, $coff + 18)
    $opt = $coff + 20
    [BitConverter]::GetBytes([uint16]$(if ($pe64) { 0x20B } else { 0x10B })).CopyTo($bytes, $opt)
    [BitConverter]::GetBytes([uint16]3).CopyTo($bytes, $opt + 68)         # subsystem: console
    [IO.File]::WriteAllBytes($Path, $bytes)
}
