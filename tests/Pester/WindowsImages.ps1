# Phony Windows test images, built the way libguestfs's own tests make theirs:
# NTFS partitions made through the appliance, registry hives written empty by
# RegfWriter.ps1 and filled with hivexregedit --merge (libhivex-bin), and a
# System32/cmd.exe whose PE header names the architecture. Dot-source after
# TestSupport.ps1 and GuestImages.ps1 (Invoke-CachedBuild, Invoke-Api).
#
#   windows-mbr-<v>.img  160 MiB, MBR, disk signature 0x47465331
#       /dev/sda1 NTFS "GFSSYS" = C:  Windows 7 Professional, 32-bit (PE32 cmd.exe),
#                 CurrentVersion "6.1" only (no Major/MinorVersionNumber), hostname GFS-WIN7
#       /dev/sda2 NTFS "GFSDATA" = D:
#   windows-gpt-<v>.img  160 MiB, GPT, fixed partition GUIDs
#       /dev/sda1 NTFS "GFSSYS" = C:  Windows Server 2019 Datacenter, 64-bit (PE32+ cmd.exe),
#                 CurrentMajor/MinorVersionNumber 10.0, hostname GFS-WIN2019, applications
#                 under both Uninstall keys (WOW6432Node too)
#       /dev/sda2 NTFS "GFSDATA" = E:
# Drive letters come from HKLM\SYSTEM\MountedDevices: 12-byte MBR blobs (signature +
# byte offset) and 24-byte "DMIO:ID:" + partition GUID blobs.

. $PSScriptRoot/RegfWriter.ps1

$script:WindowsImageVersion = 'v1'
$script:WinMbrSignature = [byte[]](0x31, 0x53, 0x46, 0x47)
$script:WinGptGuids = @('5a1f0c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b', 'c0ffee00-1234-4abc-9def-00112233aabb')
$script:WinAliceSid = 'S-1-5-21-1111111111-2222222222-3333333333-1001'

# .reg text helpers: hex(N) of a UTF-16LE string (with its terminating NUL) or of a
# list of strings (REG_MULTI_SZ), and plain byte lists.
function ConvertTo-RegHex([byte[]] $Bytes) { ($Bytes | ForEach-Object { '{0:x2}' -f $_ }) -join ',' }
function ConvertTo-RegUtf16([string] $Text) { ConvertTo-RegHex ([Text.Encoding]::Unicode.GetBytes($Text + "`0")) }
function ConvertTo-RegMulti([string[]] $Items) { ConvertTo-RegHex ([Text.Encoding]::Unicode.GetBytes((($Items | ForEach-Object { $_ + "`0" }) -join '') + "`0")) }

# The MountedDevices blob of a partition of an MBR disk: signature, then the byte offset (LE64).
function Get-MbrDriveBlob([long] $Offset) { ConvertTo-RegHex ($script:WinMbrSignature + [BitConverter]::GetBytes($Offset)) }
# The blob of a GPT partition: "DMIO:ID:" then the GUID in its binary (mixed-endian) form.
function Get-GptDriveBlob([string] $Guid) { ConvertTo-RegHex ([Text.Encoding]::ASCII.GetBytes('DMIO:ID:') + [guid]::new($Guid).ToByteArray()) }

# Writes an empty hive and merges $Reg (text, REGEDIT5 syntax) into it with hivexregedit.
function New-TestHive([string] $Path, [string] $Prefix, [string] $Reg, [string] $RootName) {
    New-EmptyRegistryHive -Path $Path -RootName $RootName -Name $RootName
    if (-not $Reg) { return }
    $regFile = "$Path.reg"
    # hivexregedit creates a key only under an existing parent: name every ancestor
    # first (an empty section merges nothing into a key that exists).
    $ancestors = [Collections.Generic.List[string]]::new()
    foreach ($m in [regex]::Matches($Reg, '(?m)^\[([^\]]+)\]')) {
        $parts = $m.Groups[1].Value.Substring($Prefix.Length).Trim('\').Split('\')
        for ($i = 1; $i -lt $parts.Count; $i++) {
            $a = $Prefix + '\' + ($parts[0..($i - 1)] -join '\')
            if (-not $ancestors.Contains($a)) { $ancestors.Add($a) }
        }
    }
    $head = ($ancestors | Sort-Object { $_.Split('\').Count } | ForEach-Object { "[$_]`n" }) -join "`n"
    $Reg = $head + "`n" + $Reg
    [IO.File]::WriteAllText($regFile, "Windows Registry Editor Version 5.00`n`n" + $Reg.Replace("`r`n", "`n") + "`n", [Text.UTF8Encoding]::new($false))
    $out = & hivexregedit --merge --prefix $Prefix $Path $regFile 2>&1
    if ($LASTEXITCODE -ne 0) { throw "hivexregedit --merge $Path failed ($LASTEXITCODE): $out" }
    Remove-Item $regFile
}

# The host tree of one system partition (C:) in $Root.
function New-WindowsTestTree([string] $Root, [hashtable] $Spec) {
    $sys32 = "$Root/Windows/System32"
    New-Item -ItemType Directory -Force -Path "$sys32/config", "$sys32/drivers/etc", "$Root/Users/Alice/Documents", "$Root/Program Files/Example App" | Out-Null
    New-PEStub -Path "$sys32/cmd.exe" -Architecture $Spec.Arch
    [IO.File]::WriteAllText("$sys32/drivers/etc/hosts", "# hosts of $($Spec.Hostname)`r`n127.0.0.1 localhost`r`n")
    [IO.File]::WriteAllText("$Root/Users/Alice/Documents/notes.txt", "Alice's notes`r`n")
    [IO.File]::WriteAllText("$Root/Program Files/Example App/README.TXT", "Example App readme`r`n")

    $sw = 'HKEY_LOCAL_MACHINE\SOFTWARE'
    $cv = "$sw\Microsoft\Windows NT\CurrentVersion"
    $version = if ($Spec.Major) {
        "`"CurrentMajorVersionNumber`"=dword:{0:x8}`n`"CurrentMinorVersionNumber`"=dword:{1:x8}`n`"CurrentVersion`"=`"6.3`"" -f $Spec.Major, $Spec.Minor
    } else { "`"CurrentVersion`"=`"$($Spec.CurrentVersion)`"" }
    $software = @"
[$cv]
"ProductName"="$($Spec.ProductName)"
"InstallationType"="$($Spec.InstallationType)"
"CurrentBuildNumber"="$($Spec.Build)"
"RegisteredOwner"="GuestFs tests"
$version

[$cv\ProfileList\$script:WinAliceSid]
"ProfileImagePath"=hex(2):$(ConvertTo-RegUtf16 'C:\Users\Alice')

[$sw\Microsoft\Windows\CurrentVersion\Run]
"Updater"="C:\\Program Files\\Example App\\update.exe /quiet"

$($Spec.Apps)
"@
    $system = @"
[HKEY_LOCAL_MACHINE\SYSTEM\Select]
"Current"=dword:00000001
"Default"=dword:00000001
"Failed"=dword:00000000
"LastKnownGood"=dword:00000002

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Tcpip\Parameters]
"Hostname"="$($Spec.Hostname)"
"Domain"=""

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\ComputerName\ComputerName]
"ComputerName"="$($Spec.Hostname)"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\gfsbad]
"Start"=dword:00000001
"Type"=dword:00000001
"ErrorControl"=dword:00000003
"ImagePath"=hex(2):$(ConvertTo-RegUtf16 'System32\drivers\gfsbad.sys')
"DependOnService"=hex(7):$(ConvertTo-RegMulti @('FltMgr', 'Tcpip'))
"Tag"=hex(b):08,07,06,05,04,03,02,01
"Blob"=hex:de,ad,be,ef

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\Tcpip\Parameters]
"Hostname"="NOT-THE-CURRENT-SET"

[HKEY_LOCAL_MACHINE\SYSTEM\MountedDevices]
$($Spec.Mounted)
"@
    $cfg = "$sys32/config"
    New-TestHive "$cfg/SOFTWARE" 'HKEY_LOCAL_MACHINE\SOFTWARE' $software 'SOFTWARE'
    New-TestHive "$cfg/SYSTEM" 'HKEY_LOCAL_MACHINE\SYSTEM' $system 'SYSTEM'
    New-TestHive "$cfg/SAM" 'HKEY_LOCAL_MACHINE\SAM' "[HKEY_LOCAL_MACHINE\SAM\SAM\Domains\Account]`n`"F`"=hex:01,02`n" 'SAM'
    New-TestHive "$cfg/SECURITY" 'HKEY_LOCAL_MACHINE\SECURITY' "[HKEY_LOCAL_MACHINE\SECURITY\Policy]`n`"Version`"=dword:00000001`n" 'SECURITY'
    New-TestHive "$cfg/DEFAULT" 'HKEY_USERS\.DEFAULT' "[HKEY_USERS\.DEFAULT\Control Panel\Desktop]`n`"Wallpaper`"=`"`"`n" '.DEFAULT'
    New-TestHive "$Root/Users/Alice/NTUSER.DAT" "HKEY_USERS\$script:WinAliceSid" @"
[HKEY_USERS\$script:WinAliceSid\Software\GfsTest]
"Greeting"="hello Alice"
"Count"=dword:0000002a
"@ 'NTUSER'
}

# Returns @{ Mbr = path; Gpt = path } of the two cached images (built on first use).
function Get-GuestFsWindowsImages {
    $cache = Get-GuestFsTestCacheDirectory
    $mbr = Join-Path $cache "windows-mbr-$script:WindowsImageVersion.img"
    $gpt = Join-Path $cache "windows-gpt-$script:WindowsImageVersion.img"
    Invoke-CachedBuild $gpt {
        param($work)
        if (-not (Get-Command hivexregedit -ErrorAction SilentlyContinue)) { throw 'hivexregedit is not installed (Debian package libhivex-bin; build.ps1 -Task Bootstrap installs it)' }
        $mib = 2048
        $p1Start = 2048; $p1End = $p1Start + 96 * $mib - 1; $p2Start = $p1End + 1
        $p1Offset = [long]$p1Start * 512; $p2Offset = [long]$p2Start * 512
        $mbrSpec = @{
            Arch = 'i386'; ProductName = 'Windows 7 Professional'; InstallationType = 'Client'; CurrentVersion = '6.1'; Build = '7601'
            Hostname = 'GFS-WIN7'
            Mounted = "`"\\DosDevices\\C:`"=hex:$(Get-MbrDriveBlob $p1Offset)`n`"\\DosDevices\\D:`"=hex:$(Get-MbrDriveBlob $p2Offset)`n`"\\??\\Volume{00000000-1111-2222-3333-444444444444}`"=hex:$(Get-MbrDriveBlob $p1Offset)"
            Apps = @"
[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\ExampleApp]
"DisplayName"="Example App"
"DisplayVersion"="1.2.3"
"Publisher"="GuestFs Test Publisher"
"InstallLocation"="C:\\Program Files\\Example App\\"
"@
        }
        $gptSpec = @{
            Arch = 'x86_64'; ProductName = 'Windows Server 2019 Datacenter'; InstallationType = 'Server'; Major = 10; Minor = 0; Build = '17763'
            Hostname = 'GFS-WIN2019'
            Mounted = "`"\\DosDevices\\C:`"=hex:$(Get-GptDriveBlob $script:WinGptGuids[0])`n`"\\DosDevices\\E:`"=hex:$(Get-GptDriveBlob $script:WinGptGuids[1])`n`"\\DosDevices\\Q:`"=hex:$(Get-GptDriveBlob '99999999-9999-4999-8999-999999999999')"
            Apps = @"
[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{6F1A2B3C-0000-4000-8000-00000000E001}]
"DisplayName"="Example Editor 2.1"
"DisplayVersion"="2.1.0"
"Publisher"="Example Corp"
"InstallLocation"="C:\\Program Files\\Example Editor\\"
"URLInfoAbout"="https://editor.example.com/"
"Comments"="A text editor for tests"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\Zeta Tool]
"DisplayName"="Zeta Tool"
"DisplayVersion"="7"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\apple-utils]
"DisplayName"="Apple Utils"
"DisplayVersion"=dword:00000005
"Publisher"="Fruit Inc"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\KB4000001]
"UninstallString"="wusa /uninstall /kb:4000001"

[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\Legacy32]
"DisplayName"="Legacy Tool (32-bit)"
"DisplayVersion"="0.9"
"Publisher"="Old Software Ltd"
"InstallLocation"=hex(2):$(ConvertTo-RegUtf16 'C:\Program Files (x86)\Legacy')
"Comments"="Runs under WOW64"
"@
        }
        foreach ($s in $mbrSpec, $gptSpec) { New-WindowsTestTree "$work/$($s.Arch)" $s }
        New-Item -ItemType Directory -Force -Path "$work/data/Data" | Out-Null
        [IO.File]::WriteAllText("$work/data/Data/report.txt", "quarterly report`r`n")

        $tmpMbr = "$work/mbr.img"; $tmpGpt = "$work/gpt.img"
        New-GuestDiskImage -Path $tmpMbr -Size 160MB -PartitionStyle None | Out-Null
        New-GuestDiskImage -Path $tmpGpt -Size 160MB -PartitionStyle None | Out-Null
        $d = Open-GuestDisk -Path $tmpMbr, $tmpGpt -Writable -WarningAction SilentlyContinue
        try {
            foreach ($disk in @(@{ Dev = '/dev/sda'; Type = 'mbr'; Tree = "$work/i386" }, @{ Dev = '/dev/sdb'; Type = 'gpt'; Tree = "$work/x86_64" })) {
                $dev = $disk.Dev
                Invoke-Api part_init @{ device = $dev; parttype = $disk.Type } $d
                Invoke-Api part_add @{ device = $dev; prlogex = 'p'; startsect = [long]$p1Start; endsect = [long]$p1End } $d
                Invoke-Api part_add @{ device = $dev; prlogex = 'p'; startsect = [long]$p2Start; endsect = [long]-2048 } $d
                if ($disk.Type -eq 'mbr') {
                    Invoke-Api pwrite_device @{ device = $dev; content = $script:WinMbrSignature; offset = [long]0x1B8 } $d | Out-Null
                    Invoke-Api part_set_mbr_id @{ device = $dev; partnum = 1; idbyte = 7 } $d
                    Invoke-Api part_set_mbr_id @{ device = $dev; partnum = 2; idbyte = 7 } $d
                }
                else {
                    Invoke-Api part_set_gpt_guid @{ device = $dev; partnum = 1; guid = $script:WinGptGuids[0] } $d
                    Invoke-Api part_set_gpt_guid @{ device = $dev; partnum = 2; guid = $script:WinGptGuids[1] } $d
                    # Microsoft basic data
                    Invoke-Api part_set_gpt_type @{ device = $dev; partnum = 1; guid = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7' } $d
                    Invoke-Api part_set_gpt_type @{ device = $dev; partnum = 2; guid = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7' } $d
                }
                Invoke-Api mkfs @{ fstype = 'ntfs'; device = "${dev}1"; label = 'GFSSYS' } $d
                Invoke-Api mkfs @{ fstype = 'ntfs'; device = "${dev}2"; label = 'GFSDATA' } $d
                Mount-GuestFs -Disk $d -Device "${dev}1" -MountPoint /
                foreach ($top in Get-ChildItem $disk.Tree) { Copy-GuestItem -Disk $d -LocalPath $top.FullName -Destination / -Recurse }
                Dismount-GuestFs -Disk $d -MountPoint /
                Mount-GuestFs -Disk $d -Device "${dev}2" -MountPoint /
                Copy-GuestItem -Disk $d -LocalPath "$work/data/Data" -Destination / -Recurse
                Dismount-GuestFs -Disk $d -MountPoint /
            }
        }
        finally { Close-GuestDisk -Disk $d }
        Move-Item $tmpMbr $mbr -Force
        Move-Item $tmpGpt $gpt -Force
    }
    [pscustomobject]@{ Mbr = $mbr; Gpt = $gpt }
}
